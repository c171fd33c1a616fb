"""SENTRY_DSN: what is reported, what never leaves, and a clear stop without the extra. A local
HTTP server stands in for Sentry's ingest endpoint."""

from __future__ import annotations

import gzip
import io
import logging
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sentry_sdk
import structlog

from bot.cli import environment
from bot.config import sentry
from bot.config.logging import configure_logging
from bot.config.settings import ConfigError, Settings, load_settings
from bot.pipeline.settle import DEAD_LETTER_OUTCOMES, EVENTS
from bot.store.link_tokens import new_link_token

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
KEY = "0123456789abcdef0123456789abcdef"  # a DSN's public key: 32 hex characters
TEXT = "Your parcel is at the door, code 4711"


class Ingest:
    """Sentry's envelope endpoint: keeps each request's path and (decompressed) body."""

    def __init__(self) -> None:
        self.received: list[tuple[str, bytes]] = []
        ingest = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                assert encoding in {"", "gzip", "deflate"}, encoding
                ingest.received.append((self.path, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.dsn = f"http://{KEY}@127.0.0.1:{self.server.server_address[1]}/1"

    @property
    def everything(self) -> bytes:
        return b"\n".join(body for _path, body in self.received)


@pytest.fixture
def ingest() -> Iterator[Ingest]:
    server = Ingest()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()
    thread.join()


@pytest.fixture
def reporting(ingest: Ingest) -> Iterator[io.StringIO]:
    """The bot's logging as `python -m bot` sets it up, reporting to the stand-in; the SDK is
    closed and forgotten afterwards."""
    settings = Settings(_env_file=None, bot_token=TOKEN, sentry_dsn=ingest.dsn)
    report = sentry.start(settings)
    assert report is not None
    stream = io.StringIO()
    configure_logging(
        "INFO", "json", secrets=settings.secrets, stream=stream, cache_loggers=False, report=report
    )
    try:
        yield stream
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)


def test_an_error_arrives_without_the_token_a_link_token_or_the_message_text(
    ingest: Ingest, reporting: io.StringIO
) -> None:
    """A failed notification is reported with its fields, and what may not leave does not."""
    link_token = new_link_token()
    structlog.get_logger("bot.pipeline.settle").error(
        "notification_failed",
        reason=f"POST https://api.telegram.org/bot{TOKEN}/sendMessage: 502 Bad Gateway",
        preview=TEXT,
        message=TEXT,
        link=f"https://t.me/notify_bot?start={link_token}",
        pasted=f"they wrote {link_token}",
        user_id=42,
        attempts=5,
    )
    sentry_sdk.flush(timeout=10)

    assert [path for path, _body in ingest.received] == ["/api/1/envelope/"]
    sent = ingest.everything
    assert b"notification_failed" in sent
    assert b"502 Bad Gateway" in sent  # the reason's other words
    assert b'"user_id":42' in sent.replace(b" ", b"")
    for secret in (TOKEN, TOKEN.partition(":")[2], link_token, TEXT):
        assert secret.encode() not in sent, secret
    assert "notification_failed" in reporting.getvalue()  # still logged as before


def test_a_crash_is_reported_without_its_frames_local_variables(
    ingest: Ingest, reporting: io.StringIO
) -> None:
    """log.exception (a crash): the exception and its stack arrive; the frames' local variables
    and the secrets in the exception's text do not."""
    try:
        _call_telegram(TEXT)
    except RuntimeError:
        structlog.get_logger("bot.cli.running").exception("bot_crashed")
    sentry_sdk.flush(timeout=10)

    sent = ingest.everything
    assert b"RuntimeError" in sent
    assert b"_call_telegram" in sent  # a frame
    assert b"cannot reach" in sent
    assert b'"vars"' not in sent
    assert TOKEN.encode() not in sent
    assert TEXT.encode() not in sent
    assert b"[REDACTED]" in sent


def _call_telegram(text: str) -> None:
    url = f"https://api.telegram.org/bot{TOKEN}/sendMessage"  # a local variable
    raise RuntimeError(f"cannot reach {url} with {new_link_token()} ({len(text)} characters)")


def test_an_outage_is_reported_once_dead_letters_and_library_errors_too(
    ingest: Ingest, reporting: io.StringIO
) -> None:
    """An outage logs every reconnect attempt; only its first is reported. A dead letter (a
    warning) is; an info line is not; the standard library's errors are."""
    log = structlog.get_logger("bot.sources.stream")
    for attempt in (1, 2, 3):
        log.warning("redis_unavailable", attempt=attempt, error="Connection refused")
    log.warning("notification_invalid", reason="not JSON", preview=TEXT)
    log.info("notification_sent", user_id=42)
    logging.getLogger("asyncio").error("Task exception was never retrieved")
    sentry_sdk.flush(timeout=10)

    sent = ingest.everything
    assert len(ingest.received) == 3
    assert sent.count(b"redis_unavailable") >= 1
    assert b'"attempt":1' in sent.replace(b" ", b"")
    assert b'"attempt":2' not in sent.replace(b" ", b"")
    assert b"notification_invalid" in sent
    assert b"not JSON" in sent
    assert b"Task exception was never retrieved" in sent
    assert b"notification_sent" not in sent
    assert TEXT.encode() not in sent


def test_the_running_bot_reports_what_the_other_commands_do_not(
    ingest: Ingest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """`python -m bot` (run) starts reporting from its settings; `send`, `check` and the others
    never do."""
    monkeypatch.chdir(tmp_path)  # no .env
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SENTRY_DSN", ingest.dsn)
    environment.settings(require_token=True)
    assert not sentry_sdk.get_client().is_active()
    try:
        environment.settings(require_token=True, running=True)
        assert sentry_sdk.get_client().is_active()
        structlog.get_logger("bot.runtime").error("shutdown_stuck", waiting=["lane 42"])
        sentry_sdk.flush(timeout=10)
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.get_global_scope().set_client(None)
    assert b"shutdown_stuck" in ingest.everything


def test_reporting_leaves_aiohttp_redis_and_logging_alone(reporting: io.StringIO) -> None:
    """Only the harmless integrations: none that patches a delivery's path."""
    client = sentry_sdk.get_client()
    for name in ("excepthook", "dedupe", "atexit", "modules"):
        assert client.get_integration(name) is not None, name
    for name in ("aiohttp", "redis", "httpx", "logging", "stdlib", "threading", "asyncio"):
        assert client.get_integration(name) is None, name


def test_without_a_dsn_nothing_starts_and_logging_has_no_reporting_step() -> None:
    settings = Settings(_env_file=None, bot_token=TOKEN)
    assert sentry.start(settings) is None
    assert not sentry_sdk.get_client().is_active()


def test_the_dead_letter_events_are_those_of_the_dead_letter_outcomes() -> None:
    assert {EVENTS[outcome] for outcome in DEAD_LETTER_OUTCOMES} == sentry.DEAD_LETTER_EVENTS


def test_the_dsn_and_its_key_are_redacted_from_logs(ingest: Ingest) -> None:
    settings = Settings(_env_file=None, bot_token=TOKEN, sentry_dsn=ingest.dsn)
    assert {ingest.dsn, KEY} <= set(settings.secrets)
    assert KEY not in repr(settings)


@pytest.mark.parametrize(
    "dsn",
    [
        "0123456789abcdef@sentry.example/1",  # no scheme
        "https://sentry.example/1",  # no key
        f"https://{KEY}@sentry.example/",  # no project
        f"https://{KEY}@sentry.example:99999/1",  # a port out of range
        f"ftp://{KEY}@sentry.example/1",
    ],
)
def test_a_malformed_dsn_is_one_line_naming_it_and_never_echoed(
    monkeypatch: pytest.MonkeyPatch, dsn: str
) -> None:
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SENTRY_DSN", dsn)
    with pytest.raises(ConfigError, match=r"^SENTRY_DSN: must be your Sentry project's DSN") as e:
        load_settings(env_file=None)
    assert "\n" not in str(e.value)
    assert "sentry.example" not in str(e.value)
    assert "0123456789abcdef" not in str(e.value)
