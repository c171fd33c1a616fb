"""One chat's Bot API calls, made in order, each failure handled as the error policy's
verdict on it says (bot.telegram.policy)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import structlog

from bot.loops.reconnect import Outage, OutageTooLong, backoff_delay
from bot.notification.outcomes import Outcome
from bot.pipeline.results import LinkChange, Result, Target
from bot.telegram.compose import Call
from bot.telegram.pacing import Pacer
from bot.telegram.policy import (
    ANSWERED,
    ERRORS,
    NO_TRIES,
    Act,
    Probe,
    RetryPolicy,
    Verdict,
    expired,
    needs_probe,
    verdict,
)
from bot.telegram.sender import Sender

log = structlog.get_logger(__name__)

# Verdicts that end a call: its outcome is known.
FINAL = (Act.FAIL, Act.UNLINK, Act.DONE)


class CallRunner:
    """Makes calls through the delivery path's sender and does what the verdict on each error
    says: a 429 pauses every send (the Pacer); a transport error waits while Telegram is away
    (the `telegram` Outage: one getMe probes it for every send, for up to `outage_max` seconds)
    or backs off; a refused token stops all sends until it works again; a migrated group is
    followed. Link changes (a 403 unlinks, a migration moves) are not made here: they go with
    the chat's result to the settle (bot.pipeline.settle)."""

    def __init__(
        self,
        sender: Sender,
        pacer: Pacer,
        retry: RetryPolicy,
        *,
        telegram: Outage,
        outage_max: float,
        paid_broadcast: bool,
    ) -> None:
        self._sender = sender
        self._pacer = pacer
        self._retry = retry
        self._telegram = telegram
        self._outage_max = outage_max
        self._paid_broadcast = paid_broadcast
        self._token_rejected_logged = False

    async def run(
        self,
        user_id: int,
        chat_id: int,
        calls: list[Call],
        target: Target,
        *,
        topic_from_link: bool = False,
    ) -> Result:
        """Make `calls` to `chat_id` one after another; the first that fails ends it, with the
        ids of the messages made or edited before it (a deleted one has none). The result's
        chat is where they went (a migration carries over to the next part), and its `links`
        what the chat's link needs. `topic_from_link`: see `policy.verdict`."""
        to = _Chat(user_id, chat_id, topic_from_link)
        attempts = 0
        message_ids: list[int] = []
        for number, call in enumerate(calls, start=1):
            result = await self._send(to, call, target)
            attempts += result.attempts
            message_ids.extend(result.message_ids)
            if result.outcome is not Outcome.SENT:
                reason = (
                    result.reason
                    if len(calls) == 1
                    else f"{result.reason} (part {number} of {len(calls)})"
                )
                ids = tuple(message_ids)
                return Result(result.outcome, reason, attempts, ids, to.chat_id, links=to.links)
        ids = tuple(message_ids)
        return Result(Outcome.SENT, None, attempts, ids, to.chat_id, links=to.links)

    async def _send(self, to: _Chat, call: Call, target: Target) -> Result:
        """Make one call, doing what each error's verdict says until one ends it."""
        tries = NO_TRIES
        paid = self._paid_broadcast and call.method.startswith("send")
        while True:
            if target.expires is not None and time.time() >= target.expires:
                return _ended(expired(tries))
            try:
                if self._telegram.is_down:
                    # While Telegram is unreachable nobody sends: one probe (getMe) at a time.
                    await self._telegram.wait_up(self._outage_max)
                # No parse_mode: user content is sent literally (formatting travels as
                # entities), so "<b>" or "*" cannot break it. The sender waits for the
                # Pacer's turn first.
                message_id = await self._sender.send(
                    to.chat_id,
                    call.method,
                    call.params,
                    allow_paid_broadcast=paid,
                    rank=target.rank,
                    deadline=target.expires,
                )
            except ERRORS as exc:
                probe = await self._probe() if needs_probe(exc) else ANSWERED
                decided = verdict(
                    exc,
                    call,
                    tries,
                    chat_id=to.chat_id,
                    retry=self._retry,
                    probe=probe,
                    topic_from_link=to.topic_from_link,
                )
            else:
                ids = () if message_id is None else (message_id,)
                return Result(Outcome.SENT, None, tries.attempts + 1, ids)
            await self._act(to, decided)
            if decided.act in FINAL:
                return _ended(decided)
            tries = decided.tries

    async def _act(self, to: _Chat, decided: Verdict) -> None:
        """What a verdict asks for besides its outcome: pauses, waits, logs, link changes."""
        if decided.pause:
            self._pacer.pause(decided.pause)
            log.warning("telegram_flood_wait", user_id=to.user_id, retry_after=decided.pause)
        act = decided.act
        if act is Act.MIGRATE and decided.moved_to is not None:
            # A group became a supergroup: this part and the next go there, the link follows.
            log.info(
                "chat_migrated",
                user_id=to.user_id,
                old_chat_id=to.chat_id,
                new_chat_id=decided.moved_to,
            )
            to.links += (LinkChange(to.user_id, to.chat_id, moved_to=decided.moved_to),)
            to.chat_id = decided.moved_to
        elif act is Act.UNLINK and decided.unlinked is not None:
            to.links += (LinkChange(to.user_id, to.chat_id, unlinked=decided.unlinked),)
        elif act is Act.HALT:
            await self._token_rejected(decided.reason)
        elif act is Act.RETRY and decided.backoff:
            attempt = decided.tries.attempts
            delay = backoff_delay(attempt, self._retry.base_delay, self._retry.max_delay)
            log.warning(
                "telegram_send_retry",
                user_id=to.user_id,
                reason=decided.reason,
                attempt=attempt,
                retry_in=round(delay, 2),
            )
            await asyncio.sleep(delay)
        elif decided.topic_gone:
            log.warning("chat_topic_gone", user_id=to.user_id, chat_id=to.chat_id)

    async def _probe(self) -> Probe:
        """After a transport error: is Telegram there at all? Every send waits for the answer
        (one getMe at a time), this one at most `outage_max` seconds."""
        self._telegram.found_down()
        try:
            was_down = await self._telegram.wait_up(self._outage_max)
        except OutageTooLong as too_long:
            return Probe(was_down=True, gave_up=str(too_long))
        return Probe(was_down=was_down)

    async def _token_rejected(self, error: str | None) -> None:
        """Telegram refused the bot token (revoked in @BotFather?). No notification is at
        fault and none can be sent: say so once, then wait, keeping them all (stream entries
        stay pending, pub/sub ones are handed to the stream at shutdown) until getMe works
        again, which in practice takes a restart with a new BOT_TOKEN."""
        if not self._token_rejected_logged:
            self._token_rejected_logged = True
            log.error(
                "telegram_token_rejected",
                error=error,
                hint="BOT_TOKEN was revoked or replaced: set the new one and restart; "
                "nothing is sent or dropped meanwhile",
            )
        self._telegram.found_down()
        await self._telegram.wait_up()  # no deadline: a restart ends this, not a timer
        self._token_rejected_logged = False


@dataclass(slots=True)
class _Chat:
    """Where one chat's calls go (the chat id follows a migration mid-delivery), and the link
    changes Telegram's answers called for, for the settle."""

    user_id: int
    chat_id: int
    topic_from_link: bool = False  # its topic is the link's, not the notification's
    links: tuple[LinkChange, ...] = ()


def _ended(decided: Verdict) -> Result:
    return Result(decided.outcome, decided.reason, decided.tries.attempts, decided.message_ids)
