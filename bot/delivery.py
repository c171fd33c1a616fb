"""Telegram side: send one notification, with the whole Telegram error policy in one place."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog
from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.backoff import backoff_delay
from bot.events import Notification
from bot.registry import ChatRegistry
from bot.stats import Outcome, Stats

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 4
RETRY_BASE_DELAY = 0.5
RETRY_MAX_DELAY = 10.0


class Delivery:
    """Turns a Notification into a sendMessage call and decides what each Telegram error means."""

    def __init__(
        self,
        bot: Bot,
        registry: ChatRegistry,
        stats: Stats,
        *,
        retry_base: float = RETRY_BASE_DELAY,
    ) -> None:
        self._bot = bot
        self._registry = registry
        self._stats = stats
        self._retry_base = retry_base

    async def deliver(self, notification: Notification) -> Outcome:
        """Deliver one notification, returning (and counting) its final outcome."""
        outcome = await self._deliver(notification)
        self._stats.record(outcome)
        return outcome

    async def _deliver(self, notification: Notification) -> Outcome:  # noqa: PLR0911 - a return per error class
        user_id = notification.user_id
        chat_id = await self._registry.chat_for(user_id)
        if chat_id is None:
            log.warning("notification_unlinked_user", user_id=user_id, reason="no chat linked")
            return Outcome.UNLINKED

        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                # No parse_mode: user content is sent literally, so "<b>" or "*" cannot break it.
                await self._bot.send_message(chat_id=chat_id, text=notification.message)
            except RetryAfter as exc:
                delay = _seconds(exc.retry_after)
                log.warning("telegram_flood_wait", user_id=user_id, retry_after=delay)
                await asyncio.sleep(delay)
            except ChatMigrated as exc:
                # A group became a supergroup: follow it and resend at once.
                log.info(
                    "chat_migrated",
                    user_id=user_id,
                    old_chat_id=chat_id,
                    new_chat_id=exc.new_chat_id,
                )
                chat_id = exc.new_chat_id
                await self._registry.link(user_id, chat_id)
            except Forbidden as exc:
                await self._registry.unlink_chat(chat_id)
                log.warning(
                    "notification_blocked", user_id=user_id, chat_id=chat_id, reason=exc.message
                )
                return Outcome.BLOCKED
            except (BadRequest, InvalidToken) as exc:
                # Permanent: the same request would fail the same way.
                return _failed(user_id, chat_id, exc.message, attempt)
            except NetworkError as exc:
                # Includes TimedOut: the message may have arrived. A rare duplicate is the
                # price of not losing notifications when Telegram is slow.
                if attempt == MAX_ATTEMPTS:
                    return _failed(user_id, chat_id, exc.message, attempt)
                delay = backoff_delay(attempt, self._retry_base, RETRY_MAX_DELAY)
                log.warning(
                    "telegram_send_retry",
                    user_id=user_id,
                    reason=exc.message,
                    attempt=attempt,
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
            except TelegramError as exc:
                return _failed(user_id, chat_id, exc.message, attempt)
            else:
                log.info("notification_sent", user_id=user_id, chat_id=chat_id)
                return Outcome.SENT
        return _failed(
            user_id, chat_id, "still refused after flood waits or migrations", MAX_ATTEMPTS
        )


def _failed(user_id: int, chat_id: int, reason: str, attempts: int) -> Outcome:
    log.error(
        "notification_failed", user_id=user_id, chat_id=chat_id, reason=reason, attempts=attempts
    )
    return Outcome.FAILED


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
