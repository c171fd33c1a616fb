"""How every command ends: an error is one line with its exit code, a traceback only on --debug."""

from __future__ import annotations

from tests.cli.conftest import Cli


def test_errors_are_one_line_unless_debug(cli: Cli) -> None:
    env = {"REDIS_URL": "redis://127.0.0.1:1/0"}
    plain = cli("publish", "42", "hi", env=env)
    debug = cli("--debug", "publish", "42", "hi", env=env)
    assert plain.returncode == debug.returncode == 1
    [line] = plain.stderr.strip().splitlines()
    assert line.startswith("error: Redis: ")
    assert "Traceback" in debug.stderr


def test_a_bare_number_for_a_moment_is_refused_with_what_was_meant(cli: Cli) -> None:
    result = cli("publish", "42", "hi", "--deliver-at", "60")
    assert result.returncode == 2
    assert "+60 for 60 seconds from now" in result.stderr
    assert result.stderr.count("\n") == 1  # one line


def test_link_rejects_a_user_id_that_is_not_a_number(cli: Cli) -> None:
    result = cli("link", "abc")
    assert result.returncode == 2
    assert "invalid int value: 'abc'" in result.stderr
