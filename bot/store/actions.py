"""Action buttons in Redis: what a button reports is stored under a short random key (the
button carries only the key, as callback_data comes back unverified from the client), and a
tap becomes one event on the actions stream, once, however often Telegram sends it."""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

import redis.asyncio
from redis.asyncio.client import Pipeline

from bot.notification.schema import Notification
from bot.store.chat_links import CHAT_TO_USER
from bot.store.client import PAYLOAD_FIELD
from bot.store.clock import now_iso
from bot.store.reminders import ACKNOWLEDGE_LUA, Acknowledgement

ACTION_PREFIX = "notify:action:"  # JSON {"id", "user_id", "actions"} per notification, expires
TAP_PREFIX = "notify:tap:"  # a callback query recorded already (Telegram may send it again)
# "<chat id>:<message id>" -> the action key its buttons carry now ("": none any more). Telegram
# does not check a tap's data against the message it came from (a modified client sends any
# data on any message): a key works only on the messages that show it.
SHOWS_PREFIX = "notify:shows:"
# A key whose messages are recorded in SHOWS_PREFIX (its send settled): until then a tap is
# taken from any message, since the first chats show the buttons before the last is sent.
SHOWN_SUFFIX = ":shown"
TAP_MEMORY = 24 * 3600  # seconds: Telegram stops resending an update long before this
CALLBACK_PREFIX = "a:"  # callback_data of an action button: "a:<key>:<index>"
_INDEX = re.compile(r"[0-9]{1,3}")
KEY_BYTES = 9  # 72 random bits, 12 characters: unguessable, and short in callback_data

# Record a tap once: the first SET NX for a callback query adds the event and (ARGV[5] is "1")
# acknowledges its notification (bot.store.reminders), any repeat does neither. KEYS: the
# query's key, the stream, then the acknowledgement's. Returns {added, acknowledged}.
_RECORD_ONCE = (
    ACKNOWLEDGE_LUA
    + """
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return {0, 0} end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', ARGV[3], ARGV[4])
if ARGV[5] ~= '1' then return {1, 0} end
return {1, acknowledge(KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], ARGV[6], ARGV[7], ARGV[8],
  ARGV[9], {ARGV[10], ARGV[11], ARGV[12]})}
"""
)


def new_key() -> str:
    return secrets.token_urlsafe(KEY_BYTES)


def callback_data(key: str, index: int) -> str:
    """What the `index`th action button of a notification carries (well under 64 bytes)."""
    return f"{CALLBACK_PREFIX}{key}:{index}"


def parse_callback(data: str | None) -> tuple[str, int] | None:
    """(key, index) from an action button's callback_data; None for anything else."""
    if not data or not data.startswith(CALLBACK_PREFIX):
        return None
    key, _, index = data.removeprefix(CALLBACK_PREFIX).rpartition(":")
    if not key or not _INDEX.fullmatch(index):  # "²".isdigit(), and int("²") raises
        return None
    return key, int(index)


def queue_discard(pipe: Pipeline, key: str) -> None:
    """Forget the actions stored under `key`: its buttons were never shown (no chat linked,
    a duplicate, or blocked), and would otherwise be kept for ACTION_TTL_SECONDS for nothing."""
    pipe.delete(ACTION_PREFIX + key)


# What acknowledging a tapped notification takes, given its id and user (bot.store.feedback).
Acknowledging = Callable[[str, int], Acknowledgement]


class Tapped(NamedTuple):
    outcome: Tap
    acknowledged: bool = False  # the tap stopped its notification's pending reminders


class Tap(StrEnum):
    """What became of a tap on an action button."""

    RECORDED = "recorded"  # the event is on the actions stream
    REPEATED = "repeated"  # Telegram sent the same tap again: recorded the first time
    UNKNOWN = "unknown"  # a key never issued, expired, or not for this chat's user


@dataclass(frozen=True)
class TapEvent:
    """Where the tap happened, as Telegram reported it."""

    query_id: str
    chat_id: int
    message_id: int | None
    chat: str = "private"  # the kind of chat: private, group (whoever is in it) or channel


class ActionStore:
    """Issues action keys before sends and records taps. `ttl`: how long a button works;
    `stream`, `maxlen`: the actions stream the web app reads, capped at about `maxlen`."""

    def __init__(self, client: redis.asyncio.Redis, *, ttl: int, stream: str, maxlen: int) -> None:
        self._client = client
        self._ttl = ttl
        self._stream = stream
        self._maxlen = maxlen
        self._record_once = client.register_script(_RECORD_ONCE)

    def queue_issue(
        self,
        pipe: Pipeline,
        key: str,
        notification: Notification,
        actions: list[str] | None = None,
    ) -> None:
        """Store what `notification`'s action buttons report (`actions`, when they are not its
        own: a template's), under `key` (on `pipe`: one round trip with the reads before its
        send)."""
        record = {
            "id": notification.id,
            "user_id": notification.user_id,
            "actions": notification.actions if actions is None else actions,
            "bound": True,  # taps must come from a message that shows it (SHOWS_PREFIX)
        }
        pipe.set(ACTION_PREFIX + key, json.dumps(record, ensure_ascii=False), ex=self._ttl)

    def queue_shows(self, pipe: Pipeline, messages: list[tuple[int, int]], key: str | None) -> None:
        """`messages` ((chat id, message id) each) show the buttons of `key` from now on, or,
        with None, no action buttons any more (edited without them, or deleted)."""
        for chat_id, message_id in messages:
            pipe.set(f"{SHOWS_PREFIX}{chat_id}:{message_id}", key or "", ex=self._ttl)
        if key is not None:
            pipe.set(ACTION_PREFIX + key + SHOWN_SUFFIX, "1", ex=self._ttl)

    async def record_tap(
        self,
        key: str,
        index: int,
        tap: TapEvent,
        acknowledging: Acknowledging | None = None,
    ) -> Tapped:
        """Add the tap's event to the actions stream, once per callback query. The user_id in
        it is the one linked to the chat the tap came from, never a value from the client; a
        key issued for another user's notification counts as unknown. A tap on a notification
        with an id acknowledges it in the same script (`acknowledging` says how): its
        reminders stop."""
        async with self._client.pipeline(transaction=False) as pipe:
            pipe.get(ACTION_PREFIX + key)
            pipe.hget(CHAT_TO_USER, str(tap.chat_id))
            pipe.get(f"{SHOWS_PREFIX}{tap.chat_id}:{tap.message_id}")
            pipe.exists(ACTION_PREFIX + key + SHOWN_SUFFIX)
            stored, linked, shown, recorded = await pipe.execute()
        record = _record(stored)
        if record is None or linked is None or index >= len(record["actions"]):
            return Tapped(Tap.UNKNOWN)
        # Keys issued before this check (no "bound") work as they did, until they expire.
        if record.get("bound"):
            shown = shown.decode() if isinstance(shown, bytes) else shown
            if shown != key and (shown is not None or recorded):
                return Tapped(Tap.UNKNOWN)  # another message, or one whose buttons were edited away
        user_id = int(linked)
        if record.get("user_id") != user_id:
            return Tapped(Tap.UNKNOWN)
        event = {
            "type": "action",
            "action": record["actions"][index],
            "user_id": user_id,
            "id": record.get("id"),
            "chat_id": tap.chat_id,
            "chat": tap.chat,
            "message_id": tap.message_id,
            "at": now_iso(),
        }
        notification_id = record.get("id")
        ack = None
        if acknowledging is not None and notification_id is not None:
            ack = acknowledging(str(notification_id), user_id)
        added, acknowledged = await self._record_once(
            keys=[TAP_PREFIX + tap.query_id, self._stream, *(ack.keys if ack else [])],
            args=[
                TAP_MEMORY,
                self._maxlen,
                PAYLOAD_FIELD,
                json.dumps(event, ensure_ascii=False),
                *(["1", *ack.args] if ack else ["0"]),
            ],
        )
        return Tapped(Tap.RECORDED if added else Tap.REPEATED, bool(acknowledged))


def _record(stored: bytes | str | None) -> dict[str, Any] | None:
    if stored is None:
        return None
    try:
        record = json.loads(stored)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("actions"), list):
        return None
    return record
