"""Telegram side: send one notification, with the whole Telegram error policy in one place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import structlog
from redis.exceptions import RedisError
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.loops.reconnect import Outage, OutageTooLong, backoff_delay
from bot.notification.outcomes import Outcome
from bot.notification.parsing import Parsed
from bot.notification.schema import Notification
from bot.pipeline.results import Reached, Result, Target
from bot.store.chats import LinkedChat
from bot.store.link_events import Reason
from bot.store.memory import Memory
from bot.store.registry import ChatRegistry
from bot.telegram.compose import (
    Call,
    compose,
    compose_delete,
    compose_edit,
    for_chat,
    kinds_of,
)
from bot.telegram.pacing import Pacer
from bot.telegram.policy import MAX_FLOOD_WAITS, MAX_MIGRATIONS, RetryPolicy
from bot.telegram.sender import Sender, TooLate
from bot.telegram.transport import NotConnected

log = structlog.get_logger(__name__)


class Delivery:
    """Turns a Notification into sendMessage calls and decides what each Telegram error means:

    - 429 RetryAfter: every send pauses for retry_after (the Pacer), then this one is resent;
    - 403 Forbidden (blocked, deactivated, kicked): the chat is unlinked, no retry;
    - 400 with migrate_to_chat_id: the link follows the new supergroup id and it is resent;
    - other 400s and 401/404: permanent, no retry;
    - timeouts, connection errors, 5xx: Telegram is probed with getMe (the `telegram` Outage,
      shared by every send); while it does not answer, no send goes out, and once it does this
      one is sent again, whatever the outage cost (up to `outage_max` seconds, then failed).
      If getMe answers at once, the failure was this request's: retried with backoff, up to
      `max_attempts`.

    Text longer than Telegram allows is sent as ordered parts (bot.telegram.compose); a part
    that fails ends the delivery, with the ids of the parts sent before it.
    """

    def __init__(
        self,
        sender: Sender,
        registry: ChatRegistry,
        pacer: Pacer,
        retry: RetryPolicy | None = None,
        *,
        telegram: Outage,
        outage_max: float = 600.0,
        paid_broadcast: bool = False,
    ) -> None:
        self._sender = sender
        self._telegram = telegram
        self._outage_max = outage_max
        self._token_rejected_logged = False
        self._registry = registry
        self._pacer = pacer
        self._retry = retry or RetryPolicy()
        self._paid_broadcast = paid_broadcast

    async def deliver(self, parsed: Parsed, target: Target) -> Result:
        """Deliver one notification to the chats linked to its user (`target.chats`, read by
        the caller with whatever else it reads before the send; narrowed by the notification's
        `chats`), or edit or delete what was sent for its id in each chat (`target.memory`).
        The chats are served side by side, each paced on its own; the result has each chat's
        outcome and the ids of the messages left in it, and is done (sent, edited, deleted)
        when it was done in one chat at least."""
        notification = parsed.notification
        user_id = notification.user_id
        if notification.op == "send":
            chats = tuple(c for c in target.chats if c.wanted(notification.chats))
            if not chats:
                wanted = "" if notification.chats == "all" else f" {notification.chats}"
                return Result(Outcome.UNLINKED, f"no{wanted} chat linked")
            calls = compose(parsed, target.action_key, target.mute)
            kinds = kinds_of(calls)
            # A mute button mutes it for the user, in all chats: not for a group's members.
            shared = calls if target.mute is None else compose(parsed, target.action_key)
            runs = [
                self._send_to(
                    notification, chat, calls if chat.kind == "private" else shared, kinds, target
                )
                for chat in chats
            ]
            return _combined(await _together(runs), Outcome.SENT)
        memories = target.memory
        if not memories or memories[0].user_id != user_id:
            return Result(Outcome.NOT_FOUND, "nothing sent for this id is remembered")
        where = {chat.chat_id: chat for chat in target.chats}
        runs = [
            self._change(parsed, memory, where.get(memory.chat_id), target) for memory in memories
        ]
        done = Outcome.DELETED if notification.op == "delete" else Outcome.EDITED
        return _combined(await _together(runs), done)

    async def _send_to(
        self,
        notification: Notification,
        chat: LinkedChat,
        calls: list[Call],
        kinds: tuple[str, ...],
        target: Target,
    ) -> Reached:
        calls = for_chat(calls, notification, chat)
        result = _with_kinds(
            await self._run(notification.user_id, chat.chat_id, calls, target), kinds
        )
        if _topic_gone(result, notification, chat):
            log.warning("chat_topic_gone", user_id=notification.user_id, chat_id=chat.chat_id)
            hint = "the topic this group was linked from is gone: link the group again"
            result = Result(Outcome.FAILED, f"{result.reason} ({hint})", result.attempts)
        memory = None  # remembered for an id only (for its edit or delete)
        if (
            notification.id is not None
            and result.message_ids
            and notification.user_id is not None
            and result.chat_id is not None
        ):
            memory = Memory(
                notification.user_id, result.chat_id, result.message_ids, result.kinds, time.time()
            )
        return Reached(chat, result, memory)

    async def _change(
        self,
        parsed: Parsed,
        memory: Memory,
        chat: LinkedChat | None,
        target: Target,
    ) -> Reached:
        """Edit or delete what one chat shows for the id. A chat unlinked since is changed all
        the same (the messages are the user's), with no topic: its link's is gone."""
        chat = chat or LinkedChat(memory.chat_id, "private" if memory.chat_id > 0 else "channel")
        notification = parsed.notification
        if notification.op == "delete":
            result = await self._run(memory.user_id, memory.chat_id, compose_delete(memory), target)
            kept = None if result.outcome is Outcome.SENT else memory
            return Reached(chat, _done_as(result, Outcome.DELETED), kept)
        try:
            calls = for_chat(compose_edit(parsed, memory, target.action_key), notification, chat)
        except ValueError as exc:
            return Reached(chat, Result(Outcome.FAILED, str(exc)), memory)
        result = await self._run(memory.user_id, memory.chat_id, calls, target)
        if memory.kinds[0] == "media":  # the photo or document stays, unchanged
            result = replace(result, message_ids=(memory.message_ids[0], *result.message_ids))
        result = _with_kinds(result, _edited_kinds(memory, calls))
        if result.outcome is not Outcome.SENT:
            return Reached(chat, result, memory)
        edited = replace(
            memory, message_ids=result.message_ids, kinds=result.kinds, sent_at=time.time()
        )
        if result.chat_id is not None:
            edited = replace(edited, chat_id=result.chat_id)
        return Reached(chat, _done_as(result, Outcome.EDITED), edited)

    async def _run(
        self, user_id: int | None, chat_id: int, calls: list[Call], target: Target
    ) -> Result:
        """Make `calls` one after another; the first that fails ends it, with the ids of the
        messages made or edited before it (a deleted one has none)."""
        attempts = 0
        message_ids: list[int] = []
        for number, call in enumerate(calls, start=1):
            sent = _Send(user_id or 0, chat_id)
            result = await self._send(sent, call, target)
            chat_id = sent.chat_id  # a migration carries over to the next part
            attempts += result.attempts
            message_ids.extend(result.message_ids)
            if result.outcome is not Outcome.SENT:
                reason = (
                    result.reason
                    if len(calls) == 1
                    else f"{result.reason} (part {number} of {len(calls)})"
                )
                return Result(result.outcome, reason, attempts, tuple(message_ids), chat_id)
        return Result(Outcome.SENT, None, attempts, tuple(message_ids), chat_id)

    async def _send(  # noqa: PLR0912 - one branch per Telegram error: the policy in one place
        self, send: _Send, call: Call, target: Target
    ) -> Result:
        attempt = flood_waits = migrations = 0
        result: Result | None = None
        paid = self._paid_broadcast and call.method.startswith("send")
        while result is None:
            attempt += 1
            if target.expires is not None and time.time() >= target.expires:
                first = attempt == 1 and not flood_waits and not migrations
                when = "its first attempt" if first else "it could be sent again"
                return Result(Outcome.EXPIRED, f"expired before {when}", attempt - 1)
            try:
                if self._telegram.is_down:
                    # While Telegram is unreachable nobody sends: one probe (getMe) at a time.
                    await self._telegram.wait_up(self._outage_max)
                # No parse_mode: user content is sent literally (formatting travels as
                # entities), so "<b>" or "*" cannot break it. The sender waits for the
                # Pacer's turn first.
                message_id = await self._sender.send(
                    send.chat_id,
                    call.method,
                    call.params,
                    allow_paid_broadcast=paid,
                    rank=target.rank,
                    deadline=target.expires,
                )
            except TooLate:
                result = Result(Outcome.EXPIRED, "expired while it waited its turn", attempt - 1)
            except OutageTooLong as too_long:
                result = Result(Outcome.FAILED, str(too_long), attempt - 1)
            except RetryAfter as exc:
                flood_waits += 1
                attempt -= 1
                result = self._flood_wait(send, exc, flood_waits, attempt)
            except InvalidToken as exc:
                await self._token_rejected(exc)
                attempt -= 1  # not this notification's fault: kept, and sent once it works
            except ChatMigrated as exc:
                migrations += 1
                if migrations > MAX_MIGRATIONS:
                    reason = f"chat migrated more than {MAX_MIGRATIONS} times"
                    result = Result(Outcome.FAILED, reason, attempt)
                else:
                    await self._migrated(send, exc)
            except (Forbidden, BadRequest) as exc:
                result = await self._refused(send, call, exc, attempt)
            except NetworkError as exc:
                result, counted = await self._unreachable(send, exc, attempt)
                attempt -= not counted
            except TelegramError as exc:
                result = Result(Outcome.FAILED, exc.message, attempt)
            else:
                ids = () if message_id is None else (message_id,)
                result = Result(Outcome.SENT, None, attempt, ids)
        return result

    def _flood_wait(self, send: _Send, exc: RetryAfter, waits: int, attempt: int) -> Result | None:
        """Telegram said 429: every send pauses for retry_after, then this one is resent; a
        server that never stops saying 429 must not keep a notification for ever."""
        delay = _seconds(exc.retry_after)
        self._pacer.pause(delay)
        log.warning("telegram_flood_wait", user_id=send.user_id, retry_after=delay)
        if waits > MAX_FLOOD_WAITS:
            return Result(Outcome.FAILED, f"still flood-limited after {waits} waits", attempt)
        return None

    async def _migrated(self, send: _Send, exc: ChatMigrated) -> None:
        """A group became a supergroup: the link follows it, and the part is sent there."""
        log.info(
            "chat_migrated",
            user_id=send.user_id,
            old_chat_id=send.chat_id,
            new_chat_id=exc.new_chat_id,
        )
        old_chat_id, send.chat_id = send.chat_id, exc.new_chat_id
        await self._update_link(self._registry.move_chat(old_chat_id, send.chat_id))

    async def _token_rejected(self, exc: InvalidToken) -> None:
        """Telegram refused the bot token (revoked in @BotFather?). No notification is at
        fault and none can be sent: say so once, then wait, keeping them all (stream entries
        stay pending, pub/sub ones are handed to the stream at shutdown) until getMe works
        again, which in practice takes a restart with a new BOT_TOKEN."""
        if not self._token_rejected_logged:
            self._token_rejected_logged = True
            log.error(
                "telegram_token_rejected",
                error=exc.message,
                hint="BOT_TOKEN was revoked or replaced: set the new one and restart; "
                "nothing is sent or dropped meanwhile",
            )
        self._telegram.found_down()
        await self._telegram.wait_up()  # no deadline: a restart ends this, not a timer
        self._token_rejected_logged = False

    async def _refused(self, send: _Send, call: Call, exc: TelegramError, attempt: int) -> Result:
        """Telegram said no for good: the same request would fail the same way. For an edit
        or a delete, some of these mean it is done already, or cannot be done."""
        if isinstance(exc, Forbidden):  # blocked, deactivated; kicked from a group or channel
            why: Reason = "blocked" if send.chat_id > 0 else "removed"
            unlink = self._registry.unlink_chat(send.chat_id, reason=why, user_id=send.user_id)
            await self._update_link(unlink)
            return Result(Outcome.BLOCKED, exc.message, attempt)
        text = exc.message.lower()
        if "message is not modified" in text:  # the edit asks for what it shows already
            return Result(Outcome.SENT, None, attempt, (int(call.params["message_id"]),))
        if call.method == "deleteMessage":
            if "not found" in text:  # deleted in the chat already: gone, as asked
                return Result(Outcome.SENT, None, attempt)
            if "can't be deleted" in text:
                reason = f"{exc.message} (Telegram lets a bot delete a message for 48 hours)"
                return Result(Outcome.FAILED, reason, attempt)
        if call.method.startswith("edit") and "not found" in text:
            return Result(Outcome.NOT_FOUND, f"{exc.message} (deleted in the chat?)", attempt)
        return Result(Outcome.FAILED, exc.message, attempt)

    async def _unreachable(
        self, send: _Send, exc: NetworkError, attempt: int
    ) -> tuple[Result | None, bool]:
        """After a timeout, a connection error or a 5xx: (the final result, or None to send
        again; whether this attempt counts against the retry budget).

        Includes TimedOut: the message may have arrived. A rare duplicate is the price of not
        losing notifications when Telegram is slow."""
        self._telegram.found_down()
        try:
            outage = await self._telegram.wait_up(self._outage_max)
        except OutageTooLong as too_long:
            return Result(Outcome.FAILED, f"{exc.message}; {too_long}", attempt), True
        if outage and isinstance(exc, NotConnected):
            # Nothing reached Telegram, which was down: sent again, free of the retry budget.
            return None, False
        # Otherwise it counts: a timed-out or cut request may have arrived, so a Telegram that
        # keeps failing this way must not make copies without end.
        if attempt >= self._retry.max_attempts:
            return Result(
                Outcome.FAILED, f"{exc.message} (after {attempt} attempts)", attempt
            ), True
        if not outage:
            # Telegram answers getMe but not this request: back off before the next try.
            delay = backoff_delay(attempt, self._retry.base_delay, self._retry.max_delay)
            log.warning(
                "telegram_send_retry",
                user_id=send.user_id,
                reason=exc.message,
                attempt=attempt,
                retry_in=round(delay, 2),
            )
            await asyncio.sleep(delay)
        return None, True

    async def _update_link(self, change: Awaitable[object]) -> None:
        """A link change Telegram asked for (blocked, migrated). If Redis is down it is left
        undone, not waited for: the message's fate is known, and the next notification to that
        chat gets the same answer from Telegram and tries again."""
        try:
            await change
        except RedisError as exc:
            log.warning("link_update_failed", error=str(exc) or type(exc).__name__)


# When no chat got it, the outcome of the chat that tells the most: a failure that may pass
# before a blocked chat; "unlinked" only when every chat was.
_FAILURES = (
    Outcome.FAILED,
    Outcome.EXPIRED,
    Outcome.NOT_FOUND,
    Outcome.BLOCKED,
)


async def _together(runs: Sequence[Coroutine[Any, Any, Reached]]) -> list[Reached]:
    """Run each chat's delivery side by side; one that crashes (a bug) cancels the others
    rather than leaving them running on their own."""
    if len(runs) == 1:
        return [await runs[0]]  # the common case: no tasks
    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(run) for run in runs]
    return [task.result() for task in tasks]


def _combined(reached: list[Reached], done: Outcome) -> Result:
    """One result for a delivery to several chats: done if done in one at least (the others'
    outcomes are in `chats`, each logged), else the most telling failure."""
    if len(reached) == 1:
        only = reached[0].result  # the common case: built directly, replace() costs 6 us
        return Result(
            only.outcome,
            only.reason,
            only.attempts,
            only.message_ids,
            only.chat_id,
            only.kinds,
            (reached[0],),
        )
    outcomes = [r.result.outcome for r in reached]
    if done in outcomes:
        outcome = done
    else:
        outcome = next((o for o in _FAILURES if o in outcomes), outcomes[0])
    for part in reached:
        if part.result.outcome is not done:
            log.warning(
                "chat_not_reached",
                kind=part.chat.kind,
                outcome=part.result.outcome.value,
                reason=part.result.reason,
            )
    reasons = [
        f"{r.chat.kind}: {r.result.reason}"
        for r in reached
        if r.result.outcome is not done and r.result.reason
    ]
    return Result(
        outcome,
        "; ".join(reasons) or None,
        sum(r.result.attempts for r in reached),
        tuple(i for r in reached for i in r.result.message_ids),
        chats=tuple(reached),
    )


def _done_as(result: Result, done: Outcome) -> Result:
    return replace(result, outcome=done) if result.outcome is Outcome.SENT else result


def _topic_gone(result: Result, notification: Notification, chat: LinkedChat) -> bool:
    """Whether Telegram refused the topic of the chat's link (not one the notification named):
    deleted since; Telegram sends no update for that."""
    return (
        result.outcome is Outcome.FAILED
        and notification.thread_id is None
        and chat.thread_id is not None
        and "thread not found" in (result.reason or "").lower()
    )


def _with_kinds(result: Result, kinds: tuple[str, ...]) -> Result:
    # A delivery cut short has fewer messages than calls: the kinds of those it made.
    ids = result.message_ids
    return Result(
        result.outcome, result.reason, result.attempts, ids, result.chat_id, kinds[: len(ids)]
    )


def _edited_kinds(memory: Memory, calls: list[Call]) -> tuple[str, ...]:
    if memory.kinds[0] == "caption":
        return memory.kinds
    head = ("media",) if memory.kinds[0] == "media" else ()
    return (*head, *kinds_of(calls))


@dataclass
class _Send:
    """Who a part goes to; the chat id changes if the group migrates mid-delivery."""

    user_id: int
    chat_id: int


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
