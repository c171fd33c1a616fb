"""What an admin sends, or has waiting to be sent: /send, /broadcast, /broadcast_cancel and
/scheduled."""

from __future__ import annotations

import asyncio
import json
import time

from telegram import Update

from bot.chat.admin_format import duration, when
from bot.chat.arguments import Usage, int_arg
from bot.chat.broadcast import Broadcaster
from bot.notification.outcomes import Outcome
from bot.pipeline.dispatcher import Dispatcher
from bot.pipeline.envelope import ADMIN, Envelope
from bot.store.schedule import ScheduleStore

SEND_WAIT = 30.0  # seconds /send waits for the outcome before answering "queued"
SCHEDULED_SHOWN = 20


class SendingCommands:
    """A test notification to one user, a broadcast to all, and what is scheduled."""

    def __init__(
        self,
        *,
        dispatcher: Dispatcher,
        broadcaster: Broadcaster,
        schedule: ScheduleStore | None,
    ) -> None:
        self._dispatcher = dispatcher
        self._broadcaster = broadcaster
        self._schedule = schedule

    async def send(self, _update: Update, args: list[str]) -> str:
        if len(args) < 2:
            raise Usage("/send USER_ID TEXT")
        user_id = int_arg(args, "/send USER_ID TEXT")
        text = " ".join(args[1:])
        settled: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        payload = json.dumps({"user_id": user_id, "message": text})
        await self._dispatcher.accept(Envelope(payload, ADMIN, settled=settled))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(settled), SEND_WAIT)
        except TimeoutError:
            return f"Queued for user {user_id}; not settled yet (see /whois {user_id})."
        return f"User {user_id}: {outcome.value}."

    async def broadcast(self, update: Update, args: list[str]) -> str | None:
        message = update.effective_message
        text = message.text.split(maxsplit=1)[1] if message and message.text and args else ""
        if not text.strip():
            raise Usage("/broadcast TEXT")
        chat = update.effective_chat
        assert chat is not None  # a command always comes from a chat  # noqa: S101
        if not await self._broadcaster.start(text, chat.id):
            return "A broadcast is already running: /broadcast_cancel first."
        return None  # the progress message the broadcaster sent is the answer

    async def broadcast_cancel(self, _update: Update, _args: list[str]) -> str:
        if await self._broadcaster.cancel():
            return "Cancelling the broadcast; notifications already queued still go out."
        return "No broadcast is running."

    async def scheduled(self, _update: Update, _args: list[str]) -> str:
        """What waits for its deliver_at, soonest first."""
        if self._schedule is None:
            return "Scheduling is off: it needs NOTIFICATION_STREAM."
        total, held = await self._schedule.held(SCHEDULED_SHOWN)
        if not total:
            return "Nothing is scheduled."
        lines = [f"{total} scheduled, soonest first:"]
        now = time.time()
        for item in held:
            key = "(no id)" if item.key.startswith("~") else f"id {item.key}"
            lines.append(
                f"{when(item.due)} UTC (in {duration(max(item.due - now, 0))}) · "
                f"{_scheduled_who(item.payload)} · {key}"
            )
        if total > len(held):
            lines.append(f"… and {total - len(held)} more")
        return "\n".join(lines)


def _scheduled_who(payload: str) -> str:
    """Who a held payload is for (it was valid when it was held)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return "?"
    if "user_ids" in data:
        return f"fan-out to {len(data['user_ids'])} users"
    if data.get("audience") == "all":
        return "fan-out to all users"
    return f"user {data.get('user_id')}"
