"""What the bot sent for each notification id (chat and message ids), so that a later edit or
delete of that id finds the messages: one string per id, forgotten after MESSAGE_MEMORY_SECONDS."""

from __future__ import annotations

import json
from dataclasses import dataclass

from redis.asyncio.client import Pipeline

MEMORY_PREFIX = "notify:sent:"  # string per notification id: JSON of its Memory per chat


@dataclass(frozen=True, slots=True)
class Memory:
    """What the bot sent for a notification id: where, and which messages (in order), so that
    an edit or a delete can find them. `kinds`: "text", or "media" (with "caption" when the
    media message carries the text). A reminder's messages are a `copy` of their own in the
    same chat: an edit or a delete changes them as it changes the first."""

    user_id: int
    chat_id: int
    message_ids: tuple[int, ...]
    kinds: tuple[str, ...]
    sent_at: float
    copy: bool = False

    @staticmethod
    def to_json(memories: tuple[Memory, ...]) -> str:
        """One notification's memories (a chat each, the same user) as stored."""
        first = memories[0]
        chats: list[dict[str, object]] = [
            {"chat_id": m.chat_id, "message_ids": list(m.message_ids), "kinds": list(m.kinds)}
            for m in memories
        ]
        for chat, memory in zip(chats, memories, strict=True):
            if memory.copy:
                chat["copy"] = True
        return json.dumps(
            {"user_id": first.user_id, "chats": chats, "sent_at": round(first.sent_at, 3)}
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> tuple[Memory, ...]:
        """The memories stored by `to_json`, or by the version before several chats (one
        object with its chat_id)."""
        data = json.loads(raw)
        user_id, sent_at = int(data["user_id"]), float(data["sent_at"])
        chats = data.get("chats", [data])
        return tuple(
            cls(
                user_id,
                int(chat["chat_id"]),
                tuple(int(i) for i in chat["message_ids"]),
                tuple(str(k) for k in chat["kinds"]),
                sent_at,
                bool(chat.get("copy", False)),
            )
            for chat in chats
        )


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
