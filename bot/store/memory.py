"""What the bot sent for each notification id (chat and message ids), so that a later edit or
delete of that id finds the messages: one string per id, forgotten after MESSAGE_MEMORY_SECONDS."""

from __future__ import annotations

from redis.asyncio.client import Pipeline

from bot.notification import Memory

MEMORY_PREFIX = "notify:sent:"  # string per notification id: JSON of its Memory per chat


def queue_recall(pipe: Pipeline, notification_id: str) -> None:
    """Queue reading what was sent for `notification_id` (read it with `recalled`)."""
    pipe.get(MEMORY_PREFIX + notification_id)


def recalled(reply: bytes | str | None) -> tuple[Memory, ...] | None:
    """The memories (a chat each) in `queue_recall`'s reply; None when nothing (valid) is
    remembered."""
    if reply is None:
        return None
    try:
        return Memory.from_json(reply) or None
    except (ValueError, KeyError, TypeError):
        return None  # written by a different version, or by hand: as if forgotten


def queue_remember(
    pipe: Pipeline, notification_id: str, memories: tuple[Memory, ...], seconds: int
) -> None:
    pipe.set(MEMORY_PREFIX + notification_id, Memory.to_json(memories), ex=seconds)


def queue_forget(pipe: Pipeline, notification_id: str) -> None:
    pipe.delete(MEMORY_PREFIX + notification_id)
