"""The version of the registry's data in Redis, and the migrations between versions.

Schema 1 (up to 0.x of issue 17): one chat per user, `notify:user_chat` (user id -> chat id).
Schema 2: several chats per user, `notify:user_chats` (bot.store.chat_links), chat titles and link
times in `notify:chat_info`. `notify:chat_user` and `notify:linked` are the same in both.

Every instance migrates on start, before it serves: each moves batches of schema-1 links with
a Lua script (one user per script call is moved whole, so two instances starting at once move
each user once), and the version is set when none are left. Rolling back is `migrate --to 1`
(docs: reference/data-in-redis.md), which writes schema 1 again from each user's oldest chat."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis.asyncio
import redis.client
import structlog

from bot.store.chat_links import CHAT_INFO, CHAT_TO_USER, LINKED, USER_CHATS
from bot.store.chats import decode_chats
from bot.store.link_tokens import LINK_TOKEN_PREFIX

log = structlog.get_logger(__name__)

SCHEMA = "notify:schema"  # the version of the data below, "2"; absent: 1 (or an empty Redis)
VERSION = 2
V1_USER_TO_CHAT = "notify:user_chat"  # schema 1: hash user id -> its one chat id
# bot.cluster.leader's lock (LOCK_PREFIX there: the store may not import the cluster), held
# while a bot runs.
LEADER_PATTERN = "notify:leader:*"
BATCH = 1000

# KEYS: v1 hash, USER_CHATS, CHAT_INFO, LINKED. ARGV: scan cursor, count.
# Moves one HSCAN page of schema-1 links; returns {next cursor, moved}. A user who has chats
# in schema 2 already keeps them and gets the old chat added after them (unless it is there).
_MOVE = """
local page = redis.call('HSCAN', KEYS[1], ARGV[1], 'COUNT', ARGV[2])
local fields = page[2]
local moved = 0
for i = 1, #fields, 2 do
  local user, chat = fields[i], fields[i + 1]
  -- A value that is no chat id (written by hand) is dropped, not moved: it never linked.
  if redis.call('HDEL', KEYS[1], user) == 1 and tonumber(chat) then
    local kind = tonumber(chat) > 0 and 'p' or 'g'
    local entry = chat .. ':' .. kind
    local now = redis.call('HGET', KEYS[2], user)
    if not now then
      redis.call('HSET', KEYS[2], user, entry)
    elseif not string.find(',' .. now .. ',', ',' .. chat .. ':', 1, true) then
      redis.call('HSET', KEYS[2], user, now .. ',' .. entry)
    end
    local at = redis.call('ZSCORE', KEYS[4], user) or '0'
    redis.call('HSETNX', KEYS[3], chat, '{"at":' .. math.floor(tonumber(at)) .. '}')
    moved = moved + 1
  end
end
return {page[1], moved}
"""

# KEYS: v1 hash, SCHEMA. ARGV: version. Sets the version once no schema-1 link is left.
_FINISH = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""


class SchemaTooNew(Exception):
    """Redis holds data of a newer version than this bot knows."""


@dataclass(frozen=True)
class Migrated:
    before: int  # the version found
    moved: int  # links moved by this instance (others may have moved the rest)


async def version(client: redis.asyncio.Redis) -> int:
    raw = await client.get(SCHEMA)
    return 1 if raw is None else int(raw)


async def migrate(client: redis.asyncio.Redis, *, batch: int = BATCH) -> Migrated:
    """Bring the data to VERSION; safe to run from several instances at once, and again.
    Raises SchemaTooNew for data of a newer version (run that version, or roll it back)."""
    found = await version(client)
    if found > VERSION:
        raise SchemaTooNew(
            f"Redis holds schema {found}, written by a newer Notify Bot (this one knows "
            f"{VERSION}): run that version, or roll its data back with its `migrate --to`"
        )
    if found == VERSION and not await client.exists(V1_USER_TO_CHAT):
        # Links an instance of the version before wrote after the upgrade (it ran on while a
        # new one started) are moved too: any start of this version finds them.
        return Migrated(found, 0)
    move = client.register_script(_MOVE)
    finish = client.register_script(_FINISH)
    moved = 0
    while True:
        cursor = 0
        while True:
            cursor_raw, count = await move(
                keys=[V1_USER_TO_CHAT, USER_CHATS, CHAT_INFO, LINKED], args=[cursor, batch]
            )
            moved += int(count)
            cursor = int(cursor_raw)
            if cursor == 0:
                break
        if await finish(keys=[V1_USER_TO_CHAT, SCHEMA], args=[VERSION]):
            break
    if moved:
        log.info("schema_migrated", before=found, after=VERSION, links_moved=moved)
    return Migrated(found, moved)


class BotsRunning(Exception):
    """A bot holds the leader lock: rolling back beside it would lose its changes."""


def roll_back(client: redis.client.Redis, *, batch: int = BATCH) -> tuple[int, int]:
    """Write schema 1 again (for the version before several chats): each user keeps the
    oldest of their chats; the others are unlinked (no link events: no bot of this version
    runs to write them). Returns (users kept, chats dropped). Refused (BotsRunning) while a
    bot holds the leader lock; tokens for groups and channels, which the version before
    cannot read, are deleted."""
    if next(client.scan_iter(match=LEADER_PATTERN, count=1000), None) is not None:
        raise BotsRunning("a bot holds the leader lock (notify:leader:*): stop every bot first")
    kept = dropped = 0
    cursor = 0
    while True:
        cursor, page = cast(
            tuple[int, dict[bytes, bytes]], client.hscan(USER_CHATS, cursor, count=batch)
        )
        with client.pipeline(transaction=True) as pipe:
            for user, raw in page.items():
                chats = decode_chats(raw)
                if not chats:
                    continue
                pipe.hset(V1_USER_TO_CHAT, user, str(chats[0].chat_id))
                for extra in chats[1:]:
                    pipe.hdel(CHAT_TO_USER, str(extra.chat_id))
                kept += 1
                dropped += len(chats) - 1
            pipe.execute()
        if cursor == 0:
            break
    for key in client.scan_iter(match=LINK_TOKEN_PREFIX + "*", count=1000):
        value = client.get(key)
        if value is not None and b":" in value:
            client.delete(key)
    client.delete(USER_CHATS, CHAT_INFO, SCHEMA)
    return kept, dropped
