"""What is handed back when deliveries are cut short (shutdown, or a leader that lost its lock
before it could start): pub/sub notifications go onto the stream so that they are not lost."""

from __future__ import annotations

import redis.asyncio
import structlog
from redis.exceptions import RedisError

from bot.pipeline.envelope import PUBSUB, Envelope
from bot.store.client import add_to_stream
from bot.store.deadletters import DeadLetterStore

log = structlog.get_logger(__name__)


class HandBack:
    """Stream entries need nothing: unacknowledged, they stay pending and are taken over.
    Pub/sub ones go onto the stream (or, without one, into the dead-letter store). A fan-out's
    recipients need nothing either: the run that resumes it starts at its saved cursor and
    skips the settled ones."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        stream: str,
        maxlen: int,
        dead_letters: DeadLetterStore,
    ) -> None:
        self._redis = client
        self._stream = stream
        self._maxlen = maxlen
        self._dead_letters = dead_letters

    async def __call__(self, envelopes: list[Envelope], why: str) -> None:
        from_pubsub = [envelope for envelope in envelopes if envelope.source == PUBSUB]
        if not from_pubsub:
            return
        try:
            for envelope in from_pubsub:
                if self._stream:
                    await add_to_stream(self._redis, self._stream, envelope.payload, self._maxlen)
                else:
                    await self._dead_letters.add(
                        envelope.payload, why, 0, PUBSUB, envelope.received_at
                    )
        except RedisError as exc:
            log.error("hand_back_failed", error=str(exc), lost=len(from_pubsub))  # noqa: TRY400
            return
        log.info("handed_back", notifications=len(from_pubsub), to=self._stream or "dead letters")
