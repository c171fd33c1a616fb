"""Other deployments listening on this pub/sub channel name: looked for hourly, said loudly."""

from __future__ import annotations

import asyncio

import redis.asyncio
import structlog
from redis.exceptions import RedisError

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.sources.presence import other_deployments, own_channel_hint
from bot.store.deployment import database_number, mark

log = structlog.get_logger(__name__)

CHECK_EVERY = 3600.0  # seconds between looks: a reminder, not an alarm that floods the log


class SharedChannelWatch:
    """Lists the deployments listening on `channel` on this Redis server (their presence
    channels, see sources/presence.py) at once and every `every` seconds. While others than
    this one (`<bot id>/<db>`) listen, it logs `channel_shared` (a warning, with them and what
    to do) and `others` names them for /healthz. It never stops the bot: a staging bot that
    starts first must not keep production down. Redis errors back off, logged as
    `channel_check_unavailable` / `channel_check_recovered`; `run` ends only when cancelled."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        channel: str,
        bot_id: str,
        *,
        every: float = CHECK_EVERY,
        backoff_base: float = 1.0,
    ) -> None:
        self._client = client
        self.channel = channel
        self.mark = mark(bot_id, database_number(client))
        self._every = every
        self._backoff = Backoff(
            "channel_check", base=backoff_base, cap=max(every, backoff_base), channel=channel
        )
        self.others: tuple[str, ...] = ()  # as of the last look
        self.checked = asyncio.Event()  # set once a look succeeded

    @property
    def hint(self) -> str:
        return own_channel_hint(self.channel, self.mark)

    async def run(self) -> None:
        """Look now, then every `every` seconds, until cancelled."""
        while True:
            await keep_connected(self._look, self._backoff, (RedisError, OSError))
            stop_if_cancelled()
            await asyncio.sleep(self._every)

    async def _look(self) -> None:
        others = await other_deployments(self._client, self.channel, self.mark)
        self._backoff.recovered()
        self.others = others
        self.checked.set()
        if others:
            log.warning(
                "channel_shared",
                channel=self.channel,
                others=list(others),
                mine=self.mark,
                fix=self.hint,
            )
