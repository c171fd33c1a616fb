"""Updates are handled one chat at a time, many chats side by side: a chat whose replies wait
for their pace (20 a minute in a group or channel) holds up only itself, and what it piles up
is bounded."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import structlog
from telegram import Update
from telegram.ext import BaseUpdateProcessor

log = structlog.get_logger(__name__)

# Updates handled side by side at most, across chats: far more than ever arrive at once, so
# that a slow chat never holds up another (each chat handles one at a time).
MAX_CONCURRENT = 4096
BACKLOG = 8  # updates of one chat waiting behind the one being handled; more are dropped
SAY_EVERY = 60.0  # seconds between two log lines about one chat's dropped updates
SAID_KEPT = 1000  # chats remembered for that before the old ones are swept


class PerChatUpdates(BaseUpdateProcessor):
    """python-telegram-bot's update processor: each chat's updates one after another, in
    order; different chats' at once. A chat with `backlog` updates waiting gets no more until
    it catches up: the rest are dropped (a flood of commands needs no answer each) and said in
    the log once a minute per chat. The bot's being added or removed is never dropped, and taps
    on buttons take no chat's turn."""

    def __init__(self, backlog: int = BACKLOG) -> None:
        super().__init__(MAX_CONCURRENT)
        self._backlog = backlog
        self._turns: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self._said: dict[int, float] = {}
        self._stopping = False
        self.dropped = 0

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_of(update)
        if key is None:
            await coroutine
            return
        waiting = self._waiting.get(key, 0)
        if waiting >= self._backlog and not _must_handle(update):
            self._drop(key, coroutine)
            return
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = asyncio.Lock()
        self._waiting[key] = waiting + 1
        try:
            await turn.acquire()
        except BaseException:
            self._waiting[key] -= 1
            self._forget_idle(key, turn)
            if hasattr(coroutine, "close"):
                coroutine.close()
            raise
        self._waiting[key] -= 1
        try:
            if self._stopping and not _must_handle(update):
                self._drop(key, coroutine)  # shutting down: what waited is not started
            else:
                await coroutine
        finally:
            turn.release()
            self._forget_idle(key, turn)

    def stop_waiting(self) -> None:
        """At shutdown: updates still waiting for their chat's turn are dropped, not handled
        one after another (a flooded chat's could take minutes; the platform kills sooner)."""
        self._stopping = True

    def _forget_idle(self, key: int, turn: asyncio.Lock) -> None:
        """Nobody of this chat waits or runs: forget it (chats come and go)."""
        if not turn.locked() and not self._waiting.get(key):
            self._turns.pop(key, None)
            self._waiting.pop(key, None)

    def _drop(self, chat_id: int, coroutine: Awaitable[Any]) -> None:
        if hasattr(coroutine, "close"):
            coroutine.close()  # never started: no "was never awaited" warning
        self.dropped += 1
        now = time.monotonic()
        if len(self._said) > SAID_KEPT:
            self._said = {chat: at for chat, at in self._said.items() if now - at < SAY_EVERY}
        if now - self._said.get(chat_id, -SAY_EVERY) >= SAY_EVERY:
            self._said[chat_id] = now
            log.warning("updates_dropped", chat_id=chat_id, waiting=self._backlog)

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None


def _chat_of(update: object) -> int | None:
    """The chat whose turn an update takes; None: none (handled at once). A tap takes none:
    its answer (answerCallbackQuery) is paced by no chat and must come within seconds, so a
    busy group's taps are never queued behind its replies, nor dropped."""
    if not isinstance(update, Update) or update.callback_query is not None:
        return None
    chat = update.effective_chat
    if chat is not None:
        return chat.id
    user = update.effective_user
    return None if user is None else user.id


def _must_handle(update: object) -> bool:
    """The bot added to or removed from a chat, or blocked: the registry must follow."""
    return isinstance(update, Update) and update.my_chat_member is not None
