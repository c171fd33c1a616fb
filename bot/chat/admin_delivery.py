"""Holding and replaying deliveries: /pause, /resume, /deadletters and /retry."""

from __future__ import annotations

import html

import structlog
from redis.exceptions import RedisError
from telegram import Update

from bot.chat.admin_format import clip, when
from bot.chat.arguments import Usage, int_arg
from bot.config.settings import Settings
from bot.formatting.entities import utf16_len
from bot.formatting.split import MAX_UTF16
from bot.notification.parsing import preview
from bot.pipeline.dispatcher import Dispatcher
from bot.store.deadletters import DeadLetterStore

log = structlog.get_logger(__name__)

REASON_CHARS = 160  # a dead letter's reason as /deadletters shows it
MORE = "\n({n} more not shown: /deadletters {k} shows what fits)"


class DeliveryCommands:
    """Delivery held and resumed; what failed for good, shown and put back on the stream."""

    def __init__(
        self, settings: Settings, *, dispatcher: Dispatcher, dead_letters: DeadLetterStore
    ) -> None:
        self._settings = settings
        self._dispatcher = dispatcher
        self._dead_letters = dead_letters

    async def pause(self, _update: Update, _args: list[str]) -> str:
        self._dispatcher.pause()
        log.warning("delivery_paused")
        return (
            "Paused. Stream notifications wait in Redis; pub/sub ones are held, up to "
            f"{self._settings.pause_buffer_max} (more are dead-lettered). /resume to go on."
        )

    async def resume(self, _update: Update, _args: list[str]) -> str:
        held = self._dispatcher.pending
        self._dispatcher.resume()
        log.info("delivery_resumed", queued=held)
        return f"Resumed; {held} queued notifications are on their way."

    async def deadletters(self, _update: Update, args: list[str]) -> str:
        count = int_arg(args, "/deadletters [n]", default=10)
        if not 1 <= count <= 50:
            raise Usage("/deadletters [n], n from 1 to 50")
        letters = await self._dead_letters.latest(count)
        total = await self._dead_letters.count()
        if not letters:
            return "No dead letters."
        header = f"{total} dead letters, newest first:\n"
        footer = "\n/retry ID or /retry all"
        # Telegram takes 4,096 characters of text (the <pre> and escapes do not count): show
        # as many as fit, newest first, and say how many did not.
        room = MAX_UTF16 - utf16_len(header + footer) - len(MORE.format(n=50, k=50))
        lines: list[str] = []
        for letter in letters:
            line = (
                f"{letter.id}  {when(letter.failed_at)}  {clip(letter.reason, REASON_CHARS)}"
                f"{' (payload cut)' if letter.truncated else ''}\n    {preview(letter.payload)}"
            )
            if utf16_len("\n".join([*lines, line])) > room:
                break
            lines.append(line)
        if len(lines) < len(letters):
            footer = MORE.format(n=len(letters) - len(lines), k=len(lines)) + footer
        return f"{header}<pre>{html.escape(chr(10).join(lines))}</pre>{footer}"

    async def retry(self, _update: Update, args: list[str]) -> str:
        if len(args) != 1:
            raise Usage("/retry ID|all")
        stream = self._settings.notification_stream
        if not stream:
            return "Retry replays onto the stream, and NOTIFICATION_STREAM is off."
        ids = None if args[0] == "all" else [args[0]]
        try:
            done = await self._dead_letters.replay(ids, stream, self._settings.stream_maxlen)
        except RedisError as exc:
            if "Invalid stream ID" in str(exc):
                raise Usage("/retry ID|all, with an ID from /deadletters") from None
            raise
        reply = f"Requeued {done.moved} dead letter{'s' if done.moved != 1 else ''}."
        if done.truncated:
            reply += f" Kept {done.truncated} whose payload was cut to the size limit."
        return reply
