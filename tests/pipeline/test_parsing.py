"""Long payloads are parsed in a worker process: the event loop goes on meanwhile."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator

import pytest
from structlog.testing import capture_logs

from bot.notification import InvalidNotification, parse_notification
from bot.pipeline.parsing import ON_LOOP_BYTES, Parser

HOSTILE = json.dumps({"user_id": 1, "format": "markdown", "message": "*_" * 2000})


@pytest.fixture
async def parser() -> AsyncIterator[Parser]:
    parser = Parser(32_768)
    yield parser
    parser.close()


async def _ticks_while(parse: asyncio.Task[object]) -> int:
    ticks = 0
    while not parse.done():
        ticks += 1
        await asyncio.sleep(0)
    return ticks


async def test_a_long_payload_is_parsed_while_the_loop_goes_on(parser: Parser) -> None:
    """On the loop, a parse runs to its end in one step (20 ms for this one, 66 ms for 4,000
    characters of `![` before their budget): nothing else would run meanwhile."""
    await parser.parse(HOSTILE)  # the worker starts (a spawn takes a few hundred ms)
    parse = asyncio.create_task(parser.parse(HOSTILE))
    assert await _ticks_while(parse) > 0
    assert parse.result().formatted == parse_notification(HOSTILE).formatted  # as on the loop


async def test_a_short_payload_is_parsed_on_the_loop_at_once(parser: Parser) -> None:
    payload = json.dumps({"user_id": 1, "message": "hi"})
    assert len(payload) <= ON_LOOP_BYTES
    parse = asyncio.create_task(parser.parse(payload))
    assert await _ticks_while(parse) <= 1  # done in its first step
    assert parse.result().notification.message == "hi"


async def test_an_invalid_long_payload_says_why_from_the_worker(parser: Parser) -> None:
    payload = json.dumps({"user_id": "seven", "message": "x" * 400})
    with pytest.raises(InvalidNotification) as raised:
        await parser.parse(payload)
    assert raised.value.reason == "user_id: input should be a valid integer"
    assert raised.value.preview.startswith('{"user_id": "seven"')


async def test_a_dead_worker_is_logged_and_parsing_goes_on(parser: Parser) -> None:
    """Killed (out of memory, an operator's kill): the payload in hand is parsed in a thread,
    the failure logged once, and a new worker is tried after RETRY_WORKER_AFTER."""
    await parser.parse(HOSTILE)
    pool = parser._pool  # the worker's pid is nowhere else
    assert pool is not None
    for pid in list(pool._processes):
        os.kill(pid, signal.SIGKILL)
    with capture_logs() as logs:
        parsed = await parser.parse(HOSTILE)
        again = await parser.parse(HOSTILE)
    assert parsed.formatted.text == again.formatted.text
    assert [log["event"] for log in logs] == ["parser_worker_failed"]
