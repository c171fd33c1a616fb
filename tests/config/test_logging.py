"""One log pipeline for structlog and the standard library, and no secret in any line."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
import redis.asyncio
import structlog

from bot.config.logging import REDACTED, configure_logging
from bot.config.settings import Settings
from bot.publisher import AsyncPublisher
from bot.testing import FakeTelegram
from tests.bots import start_bot
from tests.helpers import link_chat, token_of, wait_sent
from tests.waiting import eventually

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
URL = f"https://api.telegram.org/bot{TOKEN}/getUpdates"


def configured(level: str = "DEBUG", fmt: str = "json") -> io.StringIO:
    stream = io.StringIO()
    configure_logging(level, fmt, secrets=[TOKEN, "redis-pa55"], stream=stream, cache_loggers=False)
    return stream


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_the_console_format_has_no_colour_codes_unless_on_a_terminal() -> None:
    stream = configured("INFO", fmt="console")
    structlog.get_logger("bot.test").warning("redis_unavailable", attempt=1)
    assert "redis_unavailable" in stream.getvalue()
    assert "\x1b[" not in stream.getvalue()


def test_stdlib_and_structlog_lines_share_one_json_format() -> None:
    stream = configured("INFO")
    structlog.get_logger("bot.test").info("notification_sent", user_id=42)
    logging.getLogger("telegram.ext.Application").info("Application started")

    first, second = lines(stream)
    assert first["event"] == "notification_sent"
    assert first["user_id"] == 42
    assert first["level"] == "info"
    assert second["event"] == "Application started"
    assert second["logger"] == "telegram.ext.Application"
    assert {"timestamp", "level", "logger"} <= first.keys() & second.keys()


def test_httpx_request_lines_are_redacted() -> None:
    stream = configured("DEBUG")
    logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', URL)
    output = stream.getvalue()
    assert TOKEN not in output
    assert f"https://api.telegram.org/bot{REDACTED}/getUpdates" in output


def test_per_request_library_logs_are_quiet_unless_debugging() -> None:
    stream = configured("INFO")
    logging.getLogger("httpx").info('HTTP Request: POST %s "HTTP/1.1 200 OK"', URL)
    assert stream.getvalue() == ""


def test_tracebacks_are_redacted_and_carry_no_frame_locals() -> None:
    stream = configured("INFO")

    def failing_request() -> None:
        url = URL  # a local that show_locals would print
        raise ConnectionError(f"cannot reach {url}")

    try:
        failing_request()
    except ConnectionError:
        structlog.get_logger("bot.test").exception("delivery_crashed")
        logging.getLogger("telegram.ext.Updater").exception("polling failed")
    output = stream.getvalue()
    assert TOKEN not in output
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in output
    [structlog_line, stdlib_line] = lines(stream)
    assert "exception" in structlog_line
    frames = [f for e in structlog_line["exception"] for f in e["frames"]]  # type: ignore[attr-defined]
    assert frames
    assert all(not frame.get("locals") for frame in frames)  # none shown (absent or null)
    assert "polling failed" in str(stdlib_line["event"])
    assert "ZeroDivisionError" not in output
    assert "ConnectionError" in json.dumps(stdlib_line["exception"])


def test_literal_secrets_and_token_values_are_redacted() -> None:
    stream = configured("INFO")
    structlog.get_logger("bot.test").warning(
        "redis_unavailable", error="AUTH failed for redis-pa55", token=TOKEN
    )
    [line] = lines(stream)
    assert line["error"] == f"AUTH failed for {REDACTED}"
    assert line["token"] == REDACTED


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_both_formats_render_one_line_per_event(fmt: str) -> None:
    stream = configured("INFO", fmt)
    structlog.get_logger("bot.test").info("bot_ready", username="notify_bot")
    output = stream.getvalue()
    assert output.count("\n") == 1
    assert "bot_ready" in output
    assert "notify_bot" in output


@pytest.mark.parametrize(
    "line",
    [
        "https://t.me/notify_bot?start=TOKEN",
        "Update(message=Message(text='/start TOKEN'))",
        "text=%2Fstart+TOKEN&chat_id=1",
        "'/START TOKEN'",  # Telegram takes commands in any case
        '{"text": "/start\\tTOKEN"}',
        "/start@notify_bot TOKEN",
        "https%3A%2F%2Ft.me%2Fbot%3Fstart%3DTOKEN",
        "https://t.me/notify_bot?startgroup=TOKEN",
        "Update(channel_post=Message(text='/link TOKEN'))",
        "text=%2Flink+TOKEN&chat_id=-1001",
    ],
)
def test_deep_link_tokens_are_scrubbed_from_log_lines(line: str) -> None:
    token = "q3Xk9_-ZpL0aWbVcUdTe1234567890abcdefghijk"
    stream = configured("DEBUG")
    logging.getLogger("telegram.ext.Updater").debug(line.replace("TOKEN", token))
    assert token not in stream.getvalue()
    assert REDACTED in stream.getvalue()


async def test_no_log_line_at_debug_contains_a_deep_link_token(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """python-telegram-bot logs each update and request at DEBUG: a /start with an unused
    token, and an admin's /link reply, must reach the log redacted."""
    stream = io.StringIO()
    configure_logging("DEBUG", "json", secrets=settings.secrets, stream=stream, cache_loggers=False)
    admin = 777
    telegram.add_chat(admin)
    running = await start_bot(settings.model_copy(update={"admin_ids": frozenset({admin})}))
    try:
        link = await AsyncPublisher(redis_client).create_link(42)
        telegram.user_says(9001, f"/start {token_of(link)}")
        await wait_sent(telegram, chat_id=9001)
        telegram.user_says(admin, "/link 43")
        [reply] = await wait_sent(telegram, chat_id=admin, predicate=lambda m: "t.me" in m.text)
    finally:
        await running.shutdown()
    output = stream.getvalue()
    tokens = [token_of(link), token_of(reply.text.split()[-1])]
    assert "/start [REDACTED]" in output or "%2Fstart+[REDACTED]" in output  # PTB logged it
    assert [token for token in tokens if token in output] == []


class Flushes(io.StringIO):
    """A stream that counts its flushes and keeps what each one pushed out."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


async def test_a_burst_of_lines_is_flushed_once_and_soon() -> None:
    stream = Flushes()
    configure_logging("INFO", "json", stream=stream, cache_loggers=False)
    log = structlog.get_logger("bot.test")
    for n in range(50):
        log.info("notification_sent", user_id=n)
        await asyncio.sleep(0)  # other work in between, as in a burst
    assert stream.flushed == []  # written, not yet flushed
    await eventually(lambda: stream.flushed, within=1)
    assert len(stream.flushed) == 1
    assert [line["user_id"] for line in lines(stream)] == list(range(50))
    log.info("notification_sent", user_id=50)
    await eventually(lambda: len(stream.flushed) == 2, within=1)  # a later line is not held


def test_a_line_logged_outside_the_event_loop_is_flushed_at_once() -> None:
    stream = Flushes()
    configure_logging("INFO", "json", stream=stream, cache_loggers=False)
    structlog.get_logger("bot.test").info("bot_starting")
    assert len(stream.flushed) == 1
    assert lines(stream)[0]["event"] == "bot_starting"


class BrokenPipe(io.StringIO):
    tried = 0

    def flush(self) -> None:
        self.tried += 1
        raise BrokenPipeError


async def test_a_closed_stdout_does_not_crash_the_code_that_logs() -> None:
    stream = BrokenPipe()
    configure_logging("INFO", "json", stream=stream, cache_loggers=False)
    errors: list[object] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: errors.append(context))
    structlog.get_logger("bot.test").info("notification_sent")  # no exception here ...
    logging.getLogger("telegram.ext").warning("a library line")
    await eventually(lambda: stream.tried, within=1)
    assert errors == []  # ... nor in the flush that came after


def test_lines_logged_after_an_event_loop_closed_are_still_flushed() -> None:
    stream = Flushes()
    configure_logging("INFO", "json", stream=stream, cache_loggers=False)

    async def log_once() -> None:
        structlog.get_logger("bot.test").info("in_the_first_loop")

    asyncio.run(log_once())  # closes before its flush is due

    async def log_again() -> None:
        structlog.get_logger("bot.test").info("in_the_second_loop")
        await eventually(lambda: "in_the_second_loop" in "".join(stream.flushed), within=1)

    asyncio.run(log_again())


async def test_no_debug_line_holds_a_token_sent_in_a_shape_the_bot_refuses(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    """A token pasted alone, quoted, after other words or a zero-width space is refused (it
    starts no link), and stays valid for a day: python-telegram-bot logged it at DEBUG. So did
    it an action button's key, in the callback data of a tap."""
    stream = io.StringIO()
    configure_logging("DEBUG", "json", secrets=settings.secrets, stream=stream, cache_loggers=False)
    running = await start_bot(settings)
    try:
        tokens = [token_of(await AsyncPublisher(redis_client).create_link(42)) for _ in range(6)]
        shapes = [
            "{}",
            '/start "{}"',
            "/start hello {}",
            "/start \u200b{}",
            "/start\xa0{}",
            "{} hi",
        ]
        for number, (shape, token) in enumerate(zip(shapes, tokens, strict=True)):
            telegram.user_says(9100 + number, shape.format(token))
        for number in range(len(shapes)):
            await wait_sent(telegram, chat_id=9100 + number)
        await link_chat(telegram, redis_client, user_id=43, chat_id=9200)
        button = {"text": "Yes", "action": "pay-9:yes"}
        note = {"user_id": 43, "message": "Pay?", "buttons": [[button]]}
        await redis_client.publish(settings.notification_channel, json.dumps(note))
        [sent] = await wait_sent(telegram, chat_id=9200, predicate=lambda m: m.text == "Pay?")
        data = str(sent.buttons[0][0]["callback_data"])
        query = telegram.tap(9200, sent.message_id, button="Yes")
        await asyncio.to_thread(telegram.wait_for_answer, query)
    finally:
        await running.shutdown()
    output = stream.getvalue()
    assert "update_id" in output  # python-telegram-bot logged the updates
    assert [token for token in tokens if token in output] == []
    assert data.split(":")[1] not in output


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_color_drops_the_colour_codes_on_a_terminal_too() -> None:
    """no-color.org: NO_COLOR=1 was ignored on a terminal."""
    for color, codes in ((True, True), (False, False)):
        stream = _Terminal()
        configure_logging("INFO", "console", stream=stream, cache_loggers=False, color=color)
        structlog.get_logger("test").info("bot_ready")
        logging.getLogger().handlers[0].flush()
        assert ("\x1b[" in stream.getvalue()) is codes


def test_a_scrubbed_debug_line_stays_valid_json_after_an_escaped_character() -> None:
    """Scrubbed after rendering, a run could start inside a \\uXXXX escape (an emoji just
    before a token) and leave `\\[REDACTED]`: a line no JSON reader takes."""
    token = "T" * 43
    stream = configured("DEBUG")
    logging.getLogger("telegram.ext.Updater").debug("text='\U0001f600%s' a:ABCDEFGHIJKL:0", token)
    logging.getLogger().handlers[0].flush()
    [line] = [line for line in stream.getvalue().splitlines() if "text=" in line]
    event = json.loads(line)["event"]
    assert token not in event
    assert event == f"text='\U0001f600{REDACTED}' a:{REDACTED}:0"
