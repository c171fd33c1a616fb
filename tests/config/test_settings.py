"""Settings from the environment: defaults, parsing, and one-line errors naming the variable."""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config.logging import scrub
from bot.config.settings import TELEGRAM_API_URL, ConfigError, Settings, load_settings
from bot.store.client import connection_options, describe

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
ALL_SETTINGS = [name.upper() for name in Settings.model_fields] + ["DYNO"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_SETTINGS:
        monkeypatch.delenv(name, raising=False)


def test_only_the_token_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    settings = load_settings(env_file=None)
    assert settings.token == TOKEN
    assert settings.redis_url == "redis://localhost:6379/0"
    assert settings.notification_channel == "notification"
    assert settings.telegram_base_url == TELEGRAM_API_URL
    assert settings.admin_ids == frozenset()
    assert settings.link_ttl_seconds == 86400
    assert settings.log_format is None  # chosen from the terminal at start-up


def test_the_token_never_shows_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    settings = load_settings(env_file=None)
    assert TOKEN not in repr(settings)
    assert TOKEN not in str(settings)


def test_admin_ids_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("ADMIN_IDS", " 1234, 5678 ,")
    assert load_settings(env_file=None).admin_ids == {1234, 5678}


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("ADMIN_IDS", "12,abc", "ADMIN_IDS: must be comma-separated Telegram user ids"),
        ("REDIS_URL", "localhost:6379", "REDIS_URL: must start with redis://"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: input should be"),
        ("LOG_FORMAT", "xml", "LOG_FORMAT: input should be"),
        ("LINK_TTL_SECONDS", "0", "LINK_TTL_SECONDS: input should be greater than 0"),
        ("TELEGRAM_BASE_URL", "api.telegram.org", "TELEGRAM_BASE_URL: must be an http"),
        ("DELIVERY_CONCURRENCY", "abc", "DELIVERY_CONCURRENCY: input should be a valid integer"),
    ],
)
def test_an_invalid_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(env_file=None)
    assert "\n" not in str(caught.value)


def test_an_empty_token_is_missing_not_malformed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "")
    with pytest.raises(ConfigError, match=r"^BOT_TOKEN: is required but not set$"):
        load_settings(env_file=None)


def test_a_missing_token_is_named() -> None:
    with pytest.raises(ConfigError, match=r"^BOT_TOKEN: is required but not set$"):
        load_settings(env_file=None)


def test_a_malformed_token_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", "my-secret-but-wrong")
    with pytest.raises(ConfigError, match=r"^BOT_TOKEN: does not look like a bot token") as caught:
        load_settings(env_file=None)
    assert "my-secret-but-wrong" not in str(caught.value)


def test_lower_case_values_are_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    settings = load_settings(env_file=None)
    assert (settings.log_level, settings.log_format) == ("DEBUG", "json")


def test_a_dot_env_file_is_read_and_the_environment_wins(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text(f"BOT_TOKEN={TOKEN}\nNOTIFICATION_CHANNEL=from-file\nLOG_LEVEL=ERROR\n")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    settings = load_settings(env_file=str(env_file))
    assert settings.notification_channel == "from-file"
    assert settings.log_level == "WARNING"


def test_tls_redis_gets_the_certificate_option_and_plain_redis_does_not() -> None:
    heroku = "rediss://:p4ss@ec2-1-2-3-4.compute-1.amazonaws.com:12345"
    assert connection_options(heroku, "none")["ssl_cert_reqs"] == "none"
    assert "ssl_cert_reqs" not in connection_options("redis://localhost:6379/0", "none")


def test_the_redis_password_is_known_for_redaction_and_left_out_of_descriptions(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("REDIS_URL", "rediss://:s3cret@redis.example.com:6380/2")
    settings = load_settings(env_file=None)
    assert settings.secrets == [TOKEN, "s3cret"]
    assert describe(settings.redis_url) == "rediss://redis.example.com:6380/2"


ROOT = Path(__file__).resolve().parents[2]


def test_the_example_env_file_loads_and_names_every_setting() -> None:
    settings = load_settings(env_file=str(ROOT / "config" / ".env.example"))
    assert settings.notification_channel == "notification"
    example = (ROOT / "config" / ".env.example").read_text()
    for name, field in Settings.model_fields.items():
        assert f"{name.upper()}=" in example, f"{name.upper()} missing from config/.env.example"
        # The docs' settings reference is made from these (bot.tools.reference).
        assert field.description, f"{name}: no docstring saying what it is"


def test_empty_optional_values_mean_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform may set a config var to the empty string; that means "not set" here."""
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("STREAM_CONSUMER", "")
    monkeypatch.setenv("TELEGRAM_MAX_PER_SECOND", "")
    monkeypatch.setenv("TELEGRAM_PAID_BROADCAST", "true")
    settings = load_settings(env_file=None)
    assert settings.stream_consumer
    assert settings.overall_per_second == 1000


def test_both_sources_off_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("NOTIFICATION_CHANNEL", "")
    monkeypatch.setenv("NOTIFICATION_STREAM", "")
    with pytest.raises(ConfigError, match="both empty: nothing to listen to"):
        load_settings(env_file=None)


def test_without_a_name_each_running_process_gets_its_own(tmp_path: Path) -> None:
    """Two bots on one host (honcho, systemd, two terminals) must not share a consumer name or
    a lock identity: the default is host name and process id."""
    code = (
        "from bot.config.settings import Settings; print(Settings(_env_file=None).stream_consumer)"
    )
    env = {
        key: value for key, value in os.environ.items() if key not in {"DYNO", "STREAM_CONSUMER"}
    }
    names = {
        subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    }
    assert len(names) == 2
    assert all(name.startswith(socket.gethostname() + "-") for name in names)


def test_heroku_dyno_name_is_the_stream_consumer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("DYNO", "worker.1")
    assert load_settings(env_file=None).stream_consumer == "worker.1"


def test_webhook_mode_on_a_process_without_port_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker dyno has no PORT: with WEBHOOK_URL set app-wide it must not start (polling
    would delete the webhook the web dynos registered)."""
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/telegram")
    monkeypatch.delenv("PORT", raising=False)
    with pytest.raises(ConfigError, match=r"^WEBHOOK_URL is set but PORT is not"):
        load_settings(env_file=None)
    monkeypatch.setenv("PORT", "8443")
    assert load_settings(env_file=None).port == 8443


def test_the_webhook_secret_is_derived_from_the_token_unless_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    derived = load_settings(env_file=None).webhook_secret_token
    assert re.fullmatch(r"[0-9a-f]{64}", derived)  # allowed by Telegram, same on every dyno
    assert derived == load_settings(env_file=None).webhook_secret_token
    assert TOKEN.split(":")[1] not in derived
    monkeypatch.setenv("WEBHOOK_SECRET", "bad secret!")
    with pytest.raises(ConfigError, match=r"^WEBHOOK_SECRET: must be 1-256 characters"):
        load_settings(env_file=None)
    monkeypatch.setenv("WEBHOOK_SECRET", "my_Secret-1")
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example.com/telegram")
    monkeypatch.setenv("PORT", "8443")
    settings = load_settings(env_file=None)
    assert settings.webhook_secret_token == "my_Secret-1"
    assert "my_Secret-1" in settings.secrets  # redacted from logs


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("ftp://user:pa55word@proxy.example:21", "must be an http:// or socks5:// URL"),
        ("http://user:pa55word@proxy.example", "must name the proxy's host and port"),
        ("http://user:pa55word@proxy.example:99999", "the port must be a number"),
        (
            "socks5://user:pa55word@proxy.example:1080/x",
            "must be scheme://\\[user:password@\\]host:port, with nothing",
        ),
    ],
)
def test_an_invalid_proxy_is_named_and_its_password_never_echoed(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_PROXY", value)
    with pytest.raises(ConfigError, match=f"^TELEGRAM_PROXY: {message}") as caught:
        load_settings(env_file=None)
    assert "pa55word" not in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_proxy_password_is_redacted_and_hidden_from_repr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_PROXY", "socks5://me:pa55word@proxy.example:1080")
    settings = load_settings(env_file=None)
    assert "pa55word" in settings.secrets
    assert "pa55word" not in repr(settings)
    assert settings.proxy is not None
    assert settings.proxy.address == "socks5://proxy.example:1080"
    assert "pa55word" not in repr(settings.proxy)


def test_socks5_without_its_extra_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "aiohttp_socks" else real(name, *a),
    )
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_PROXY", "socks5://proxy.example:1080")
    with pytest.raises(ConfigError, match=r"^TELEGRAM_PROXY: socks5:// needs aiohttp-socks: "):
        load_settings(env_file=None)
    monkeypatch.setenv("TELEGRAM_PROXY", "http://proxy.example:3128")  # needs nothing
    assert load_settings(env_file=None).proxy is not None


def test_a_proxy_password_is_a_secret_as_typed_and_as_a_url_carries_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """aiohttp's proxy errors quote the proxy's URL, the password percent-encoded: that form is
    redacted from logs too."""
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_PROXY", "http://user:p%40ss%2Fw0rd@proxy.example:3128")
    settings = load_settings(env_file=None)
    assert "p@ss/w0rd" in settings.secrets
    assert "p%40ss%2Fw0rd" in settings.secrets
    line = "Cannot connect to host via url='http://user:p%40ss%2Fw0rd@proxy.example:3128'"
    assert "w0rd" not in scrub(line, settings.secrets)
