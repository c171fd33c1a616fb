"""Calling a method of either publisher and reading what the priority streams hold."""

from __future__ import annotations

import inspect
import json
from typing import Any

from bot.publisher import AsyncPublisher, Publisher
from bot.store.client import priority_streams


def stored(publisher: Publisher) -> dict[str, list[tuple[str, Any]]]:
    """What each priority's stream holds, as (entry id, payload); empty streams left out."""
    held = {}
    streams = priority_streams(publisher.stream)
    for priority, stream in zip(("high", "normal", "bulk"), streams, strict=True):
        entries: Any = publisher.client.xrange(stream)
        if entries:
            held[priority] = [(i.decode(), json.loads(f[b"payload"])) for i, f in entries]
    return held


async def call(
    publisher: Publisher | AsyncPublisher, method: str, *args: Any, **kwargs: Any
) -> Any:
    """`method` of either publisher, awaited if it is the async one's."""
    result = getattr(publisher, method)(*args, **kwargs)
    return await result if inspect.isawaitable(result) else result


async def call_both(
    publishers: tuple[Publisher, AsyncPublisher], method: str, *args: Any, **kwargs: Any
) -> list[Any]:
    """`method` of the sync publisher, then of the async one, with the same arguments."""
    return [await call(publisher, method, *args, **kwargs) for publisher in publishers]
