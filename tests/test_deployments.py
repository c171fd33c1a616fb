"""Deployments sharing one Redis server: pub/sub channels ignore the database number, so two
bots on two databases hear the same channel name. Each must deliver only its own."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio
from structlog.testing import capture_logs

from bot.config.settings import Settings
from bot.ops.check import run_checks
from bot.ops.shared_channel import SharedChannelWatch
from bot.publisher import AsyncPublisher
from bot.store.deployment import bot_id_of, database_number
from bot.store.registry import ChatRegistry
from bot.testing import DEFAULT_TOKEN, FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import wait_sent
from tests.isolation import SPARE_REDIS_URL
from tests.waiting import eventually

USER = 42  # the same web-app user id in both deployments (say, production and staging)
COUNT = 20


@dataclass
class Deployment:
    settings: Settings
    telegram: FakeTelegram
    client: redis.asyncio.Redis
    chat_id: int

    @property
    def mark(self) -> str:
        return f"{bot_id_of(self.settings.token)}/{database_number(self.client)}"

    def publisher(self) -> AsyncPublisher:
        return AsyncPublisher(
            self.client, self.settings.notification_channel, self.settings.notification_stream
        )

    async def start(self) -> RunningBot:
        await ChatRegistry(self.client).link(USER, self.chat_id)
        self.telegram.add_chat(self.chat_id)
        return await start_bot(self.settings)


@pytest.fixture
def ours(
    settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> Deployment:
    return Deployment(settings, telegram, redis_client, chat_id=9001)


@pytest.fixture
async def theirs(settings: Settings) -> AsyncIterator[Deployment]:
    """Another bot (a token of its own) on another database of the server, same channel name."""
    bot_id = random.randint(10**8, 10**9 - 1)  # noqa: S311 - an id, not a secret
    url = SPARE_REDIS_URL  # this worker's second database (the next one is another worker's)
    client = redis.asyncio.Redis.from_url(url)
    await client.flushdb()
    with FakeTelegram(f"{bot_id}:{DEFAULT_TOKEN.split(':', 1)[1]}") as telegram:
        their_settings = Settings(
            _env_file=None,
            bot_token=telegram.token,
            telegram_base_url=telegram.base_url,
            redis_url=url,
            notification_channel=settings.notification_channel,
            notification_stream=settings.notification_stream,
            stream_consumer="test-worker",
            receipt_channel=settings.receipt_channel,
            shutdown_timeout=5,
            telegram_chat_burst=1000,
        )
        yield Deployment(their_settings, telegram, client, chat_id=9002)
    await client.flushdb()
    await client.aclose()


def settled(running: RunningBot) -> bool:
    """The bot's listener dropped the other deployment's notifications and sent its own."""
    assert running.bot.listener is not None
    return running.bot.listener.foreign == COUNT and running.bot.dispatcher.pending == 0


async def test_two_deployments_on_one_server_each_deliver_only_their_own(
    ours: Deployment, theirs: Deployment
) -> None:
    """Each bot hears all 40 on the shared channel name; the publisher's mark makes each
    deliver its 20 and count the other's 20 as foreign."""
    our_bot = await ours.start()
    try:
        their_bot = await theirs.start()
    except BaseException:
        await our_bot.shutdown()
        raise
    try:
        receivers = []
        for n in range(COUNT):
            for deployment in (ours, theirs):
                name = "ours" if deployment is ours else "theirs"
                published = await deployment.publisher().publish(USER, f"{name} {n}", via="pubsub")
                receivers.append(published)
        assert set(receivers) == {2}  # both bots listen on the one channel name

        await wait_sent(ours.telegram, chat_id=ours.chat_id, count=COUNT)
        await wait_sent(theirs.telegram, chat_id=theirs.chat_id, count=COUNT)
        for running in (our_bot, their_bot):
            await eventually(functools.partial(settled, running))
    finally:
        await asyncio.gather(our_bot.shutdown(), their_bot.shutdown())
    assert sorted(m.text for m in ours.telegram.sent) == sorted(f"ours {n}" for n in range(COUNT))
    assert sorted(m.text for m in theirs.telegram.sent) == sorted(
        f"theirs {n}" for n in range(COUNT)
    )


async def test_a_bot_that_finds_another_deployment_on_its_channel_starts_and_says_so(
    ours: Deployment, theirs: Deployment
) -> None:
    """A staging bot that started first must not keep production down: production starts,
    and `check`, the log (hourly) and /healthz say which channel name to set."""
    their_bot = await theirs.start()
    try:
        our_bot = await ours.start()
        try:
            checks = {check.name: check for check in await run_checks(lambda: ours.settings)}
            watch = SharedChannelWatch(
                ours.client, ours.settings.notification_channel, bot_id_of(ours.settings.token)
            )
            with capture_logs() as logs:
                task = asyncio.create_task(watch.run())
                await asyncio.wait_for(watch.checked.wait(), 10)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
            health = our_bot.bot.health
            health.shared_channel = watch
            healthy, body = await health.report()
        finally:
            await our_bot.shutdown()
    finally:
        await their_bot.shutdown()

    channel = ours.settings.notification_channel
    fix = (
        f"set NOTIFICATION_CHANNEL to a name of its own, e.g. {channel}-"
        f"{ours.mark.replace('/', '-')}, and publish there"
    )
    assert not checks["channel"].ok
    assert checks["channel"].detail == (
        f"{channel!r} is shared with {theirs.mark} (bot id/db) on this Redis server: each gets "
        f"what is published for the others; {fix}"
    )
    assert checks["listeners"].detail.startswith("2 subscribers on the channel (1 of other")
    assert checks["listeners"].ok  # one of this deployment: no duplicates
    [warning] = [e for e in logs if e["event"] == "channel_shared"]
    assert (warning["log_level"], warning["others"], warning["fix"]) == (
        "warning",
        [theirs.mark],
        fix,
    )
    assert healthy  # said, not a 503: a restart would not help
    assert body["channel_shared"] == {"with": [theirs.mark], "fix": fix}
