"""Which deployment a Redis database belongs to: the bot id key and the `<bot id>/<db>` mark."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

from bot.store.client import as_text

BOT_ID = "notify:bot_id"  # string: the numeric id of the bot (its token's part before ':')
# The JSON field a publisher adds to a pub/sub notification: the deployment it is meant for.
MARK_FIELD = "deployment"


class DatabaseTaken(Exception):
    """The database holds another bot's id: two deployments would share its data."""

    def __init__(self, owner: str) -> None:
        super().__init__(
            f"this database belongs to bot {owner} (key {BOT_ID}); use another database, "
            "or delete that key to hand it over"
        )
        self.owner = owner


def bot_id_of(token: str) -> str:
    """The bot's numeric id: the part of its token before ':'."""
    return token.split(":", 1)[0]


def database_number(client: redis.Redis | redis.asyncio.Redis) -> int:
    """The database number the client's connections select (0 unless the URL names one)."""
    return int(client.connection_pool.connection_kwargs.get("db") or 0)


def mark(bot_id: str, database: int) -> str:
    """The deployment's mark, `<bot id>/<db>`: one bot's data on one database."""
    return f"{bot_id}/{database}"


def mark_from(stored: Any, database: int) -> str | None:
    """The mark for the bot id read from BOT_ID (None while no bot has started there)."""
    return None if stored is None else mark(as_text(stored), database)


async def read_mark(client: redis.asyncio.Redis) -> str | None:
    """The mark of the deployment that owns the client's database, if a bot has claimed it."""
    return mark_from(await client.get(BOT_ID), database_number(client))


async def claim(client: redis.asyncio.Redis, bot_id: str) -> None:
    """Write `bot_id` as the database's owner, or find it there already. DatabaseTaken if
    another bot owns it; several instances of one deployment may claim it at once."""
    for _ in range(3):  # the key may be deleted (handed over) between the SET and the GET
        if await client.set(BOT_ID, bot_id, nx=True):
            return
        owner = await client.get(BOT_ID)
        if owner is None:
            continue
        if as_text(owner) != bot_id:
            raise DatabaseTaken(as_text(owner))
        return
    raise DatabaseTaken("unknown (the key keeps changing)")
