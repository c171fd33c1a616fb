"""Who else listens on a pub/sub channel name: channels are server-wide, databases are not.

The bot's pub/sub listener also subscribes to `notify:presence:<channel>:<bot id>/<db>`; any
other deployment on the same server and channel name shows up as another such channel."""

from __future__ import annotations

import re

import redis.asyncio

from bot.store.client import as_text

PRESENCE = "notify:presence:{channel}:{mark}"  # a pub/sub channel: nothing is published on it
# What follows the prefix: a mark, not the rest of a longer channel name ("notification:eu").
_MARK = re.compile(r"\d+/\d+")


def presence_channel(channel: str, mark: str) -> str:
    """The channel the listener of deployment `mark` subscribes to beside `channel`."""
    return PRESENCE.format(channel=channel, mark=mark)


def _glob_escaped(text: str) -> str:
    """`text` matched literally by PUBSUB CHANNELS (a channel name may hold * ? [ ])."""
    return "".join(f"\\{char}" if char in "*?[]\\" else char for char in text)


async def other_deployments(
    client: redis.asyncio.Redis, channel: str, mark: str | None
) -> tuple[str, ...]:
    """The marks (`<bot id>/<db>`) of the deployments listening on `channel` on this server,
    other than `mark`, sorted. One PUBSUB CHANNELS: it walks the server's active channels."""
    prefix = PRESENCE.format(channel=channel, mark="")
    pattern = _glob_escaped(prefix) + "*"
    listening = (as_text(name)[len(prefix) :] for name in await client.pubsub_channels(pattern))
    return tuple(sorted({found for found in listening if found != mark and _MARK.fullmatch(found)}))


def own_channel_hint(channel: str, mark: str) -> str:
    """What to do about other deployments on `channel`: a channel name of this one's own."""
    return (
        f"set NOTIFICATION_CHANNEL to a name of its own, e.g. {channel}-{mark.replace('/', '-')}, "
        "and publish there"
    )
