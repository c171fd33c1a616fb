"""Settling: the link changes Telegram's answers called for are made (a 403 unlinks the chat, a
migrated group's link follows it), and a settle whose answer is lost after Redis ran it (the
connection drops on the way back) writes its counters, dead letter and receipt once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import fakeredis
import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.notification import Outcome
from bot.pipeline.envelope import PUBSUB, Envelope
from bot.pipeline.results import LinkChange, Reached, Result
from bot.pipeline.settle import Settler
from bot.store.chats import LinkedChat
from bot.store.client import async_client
from bot.store.counters import STATS, Stats
from bot.store.deadletters import DEAD_LETTERS, DeadLetterStore
from bot.store.registry import ChatRegistry
from bot.store.roundtrips import RoundTrips
from tests.helpers import next_json, redis_outage

GROUP, SUPERGROUP, PRIVATE = LinkedChat(-42, "group"), -1000042, LinkedChat(42)


def settler_on(client: redis.asyncio.Redis, registry: ChatRegistry, stats: Stats) -> Settler:
    return Settler(
        RoundTrips(client),
        stats,
        DeadLetterStore(client, 100),
        registry=registry,
        redis=redis_outage(client),
        idempotency_window=60,
    )


def both_chats(
    group_links: tuple[LinkChange, ...], private_links: tuple[LinkChange, ...]
) -> Result:
    """A delivery to the user's group (sent) and private chat (blocked), with their links."""
    sent = Result(Outcome.SENT, None, 2, (5,), SUPERGROUP, links=group_links)
    blocked = Result(Outcome.BLOCKED, "Forbidden", 1, (), PRIVATE.chat_id, links=private_links)
    return Result(
        Outcome.SENT, None, 3, (5,), chats=(Reached(GROUP, sent), Reached(PRIVATE, blocked))
    )


async def test_settling_moves_a_migrated_groups_link_and_unlinks_a_chat_that_refused(
    fake_redis: redis.asyncio.Redis,
) -> None:
    registry = ChatRegistry(fake_redis)
    await registry.link(7, GROUP)
    await registry.link(7, PRIVATE)
    stats = Stats()
    result = both_chats(
        (LinkChange(7, GROUP.chat_id, moved_to=SUPERGROUP),),
        (LinkChange(7, PRIVATE.chat_id, unlinked="blocked"),),
    )

    await settler_on(fake_redis, registry, stats).settle_result(Envelope("{}", PUBSUB), result)

    assert await registry.chats_for(7) == (GROUP._replace(chat_id=SUPERGROUP),)
    assert stats.outcomes[Outcome.SENT] == 1


async def test_a_link_change_redis_refuses_is_logged_and_the_outcome_still_settled(
    fake_redis: redis.asyncio.Redis,
) -> None:
    """Not waited for: the next notification to that chat gets the same answer from Telegram
    and tries again."""
    away = fakeredis.FakeServer()
    away.connected = False
    unreachable = fakeredis.FakeAsyncRedis(server=away)
    stats = Stats()
    settler = settler_on(fake_redis, ChatRegistry(unreachable), stats)
    result = both_chats((), (LinkChange(7, PRIVATE.chat_id, unlinked="blocked"),))

    with capture_logs() as logs:
        await settler.settle_result(Envelope("{}", PUBSUB), result)
    await unreachable.aclose()

    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["link_update_failed"]
    assert stats.outcomes[Outcome.SENT] == 1
    assert int(await fake_redis.hget(STATS, "sent") or 0) == 1


class AnswerLosingProxy:
    """A TCP proxy to Redis that, once, passes a settle's trip (the one with SETBIT) on to
    Redis and then closes the connection instead of passing Redis's answer back."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 6379
        self._database = parts.path
        self.dropped = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}{self._database}"

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _handle(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        redis_in, redis_out = await asyncio.open_connection(self._host, self._port)
        settle_sent = asyncio.Event()

        async def up() -> None:
            while data := await client_in.read(65536):
                if b"SETBIT" in data:
                    settle_sent.set()
                redis_out.write(data)
                await redis_out.drain()
            redis_out.close()

        async def down() -> None:
            while data := await redis_in.read(65536):
                if settle_sent.is_set() and not self.dropped:
                    self.dropped += 1  # Redis ran it; the answer never arrives
                    client_out.close()
                    redis_out.close()
                    return
                client_out.write(data)
                await client_out.drain()
            client_out.close()

        await asyncio.gather(up(), down(), return_exceptions=True)


@pytest.fixture
async def proxied_url(redis_url: str) -> AsyncIterator[tuple[str, AnswerLosingProxy]]:
    proxy = AnswerLosingProxy(redis_url)
    url = await proxy.start()
    yield url, proxy
    await proxy.close()


async def test_a_settle_whose_answer_was_lost_counts_dead_letters_and_receipts_once(
    redis_client: redis.asyncio.Redis,
    channel: str,
    proxied_url: tuple[str, AnswerLosingProxy],
) -> None:
    url, proxy = proxied_url
    receipts = redis_client.pubsub(ignore_subscribe_messages=True)
    await receipts.subscribe(f"{channel}-receipts")
    # The client settling goes through, as app.build makes it: no retries of redis-py's own.
    client = async_client(url, max_connections=8, retries=0)
    settler = Settler(
        RoundTrips(client),
        Stats(),
        DeadLetterStore(client, 100),
        registry=ChatRegistry(client),
        redis=redis_outage(client),
        idempotency_window=60,
        receipt_channel=f"{channel}-receipts",
    )
    payload = json.dumps({"user_id": 7, "message": "hi", "id": "n1"})
    try:
        await settler.settle(Envelope(payload, PUBSUB), Outcome.FAILED, "Forbidden", attempts=1)
    finally:
        await client.aclose()

    assert proxy.dropped == 1, "the settle's answer was lost once"
    assert await redis_client.xlen(DEAD_LETTERS) == 1
    assert int(await redis_client.hget(STATS, "failed") or 0) == 1
    first = await next_json(receipts, within=2)
    assert isinstance(first, dict)
    assert first["status"] == "failed"
    with pytest.raises(TimeoutError):
        await next_json(receipts, within=0.3)  # no second receipt
    await receipts.aclose()
