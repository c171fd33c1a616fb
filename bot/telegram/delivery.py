"""Telegram side: one notification to each chat of its user (or its edit or delete there), and
one result for them all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any

import structlog

from bot.loops.reconnect import Outage
from bot.notification.outcomes import Outcome
from bot.notification.parsing import Parsed
from bot.notification.schema import Notification
from bot.pipeline.results import Reached, Result, Target
from bot.store.chats import LinkedChat
from bot.store.memory import Memory
from bot.telegram.calls import CallRunner
from bot.telegram.compose import (
    Call,
    as_reply,
    compose,
    compose_delete,
    compose_edit,
    for_chat,
    kinds_of,
)
from bot.telegram.pacing import Pacer
from bot.telegram.policy import RetryPolicy
from bot.telegram.sender import Sender

log = structlog.get_logger(__name__)


class Delivery:
    """Turns a Notification into Bot API calls for each chat (bot.telegram.compose) and has
    them made, each failure handled as the error policy says (bot.telegram.calls). Text longer
    than Telegram allows is sent as ordered parts; a part that fails ends the delivery to that
    chat, with the ids of the parts sent before it."""

    def __init__(
        self,
        sender: Sender,
        pacer: Pacer,
        retry: RetryPolicy | None = None,
        *,
        telegram: Outage,
        outage_max: float = 600.0,
        paid_broadcast: bool = False,
    ) -> None:
        self._calls = CallRunner(
            sender,
            pacer,
            retry or RetryPolicy(),
            telegram=telegram,
            outage_max=outage_max,
            paid_broadcast=paid_broadcast,
        )

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
            if target.reply_to is not None:  # a reminder: where the notification went
                chats = tuple(c for c in chats if c.chat_id in target.reply_to)
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
        if target.reply_to is not None and chat.chat_id in target.reply_to:
            calls = as_reply(calls, target.reply_to[chat.chat_id])
        # The topic of the chat's link, not one the notification named: it may be gone since.
        from_link = notification.thread_id is None and chat.thread_id is not None
        made = await self._calls.run(
            notification.user_id or 0, chat.chat_id, calls, target, topic_from_link=from_link
        )
        result = _with_kinds(made, kinds)
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
        user_id, chat_id = memory.user_id, memory.chat_id
        if notification.op == "delete":
            result = await self._calls.run(user_id, chat_id, compose_delete(memory), target)
            kept = None if result.outcome is Outcome.SENT else memory
            return Reached(chat, _done_as(result, Outcome.DELETED), kept)
        try:
            calls = for_chat(compose_edit(parsed, memory, target.action_key), notification, chat)
        except ValueError as exc:
            return Reached(chat, Result(Outcome.FAILED, str(exc)), memory)
        result = await self._calls.run(user_id, chat_id, calls, target)
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


def _with_kinds(result: Result, kinds: tuple[str, ...]) -> Result:
    # A delivery cut short has fewer messages than calls: the kinds of those it made.
    ids = result.message_ids
    return Result(
        result.outcome,
        result.reason,
        result.attempts,
        ids,
        result.chat_id,
        kinds[: len(ids)],
        links=result.links,
    )


def _edited_kinds(memory: Memory, calls: list[Call]) -> tuple[str, ...]:
    if memory.kinds[0] == "caption":
        return memory.kinds
    head = ("media",) if memory.kinds[0] == "media" else ()
    return (*head, *kinds_of(calls))
