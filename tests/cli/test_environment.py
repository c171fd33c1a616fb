"""What a command runs with: settings from the environment or a .env file, each problem named
in one line without echoing a secret."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli

TOKEN = "123456789:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


def test_an_invalid_setting_is_named_without_echoing_secrets(cli: Cli) -> None:
    secret = "12345:tooshort"
    result = cli(env={"BOT_TOKEN": secret, "REDIS_URL": "http://nope"})

    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert "BOT_TOKEN" in line
    assert "REDIS_URL" in line
    assert secret not in line


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"CATEGORIES": "orders,news:News"},
            "config error: CATEGORIES: item 1 ('orders') needs a label: name:Label",
        ),
        (
            {"CATEGORIES": "news:News", "DIGEST": "sports:3600"},
            "config error: DIGEST: 'sports' is not in CATEGORIES",
        ),
        (
            {"CATEGORIES": "news:News", "DIGEST": "news:soon"},
            "config error: DIGEST: 'news:soon' is not category:seconds",
        ),
    ],
)
def test_malformed_categories_or_digests_stop_start_up_naming_the_variable(
    cli: Cli, env: dict[str, str], expected: str
) -> None:
    result = cli(env={"BOT_TOKEN": TOKEN, **env})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [expected]


def test_settings_are_read_from_a_dot_env_file(cli: Cli, tmp_path: Path) -> None:
    """`.env` in the working directory counts; here it carries a bad value to prove it was read."""
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nLOG_FORMAT=xml\n")
    result = cli()
    assert result.returncode == 2
    assert "LOG_FORMAT" in result.stderr
