"""What the bench publishes: plain notifications, and rich ones (300 characters of HTML with two
buttons), in bursts as fast as Redis takes them."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import redis

from bot.notification.parsing import parse_fields
from bot.telegram.compose import compose
from bot.testing import FakeTelegram

# A 300-character HTML notification (the burst's tag in front) with two buttons, one of them
# an action (a key stored in Redis before the send): the burst's plain notification, rich.
RICH_HTML = (
    "<b>Order #17</b> has shipped. Your parcel with <i>3 items</i> left our warehouse today "
    'and is on its way. <a href="https://shop.example/t/17">Track it here</a>; estimated '
    "delivery <u>Tuesday</u>. Questions? Reply to this chat or read our "
    '<a href="https://shop.example/help">help pages</a>.'
)
RICH_BUTTONS = [
    [{"text": "Track parcel", "url": "https://shop.example/t/17"}],
    [{"text": "Received it", "action": "order-17:received"}],
]


def rich_params() -> dict[str, Any]:
    """What the bot sends for RICH_HTML with RICH_BUTTONS (a made-up action key)."""
    parsed = parse_fields(
        {"user_id": 1, "message": RICH_HTML, "format": "html", "buttons": RICH_BUTTONS}
    )
    [call] = compose(parsed, action_key="k" * 12)
    return call.params


def send_and_wait(
    telegram: FakeTelegram,
    client: redis.Redis,
    channel: str,
    count: int,
    users: int,
    *,
    rich: bool = False,
) -> tuple[float, int]:
    """Publish `count` notifications as fast as possible; notifications/s from the first
    publish to the last sendMessage received. `rich`: RICH_HTML with RICH_BUTTONS each."""
    tag = uuid.uuid4().hex[:6]
    pipe = client.pipeline(transaction=False)
    for n in range(count):
        if rich:
            payload = {
                "user_id": n % users + 1,
                "message": f"burst {tag} {n} {RICH_HTML}",
                "format": "html",
                "buttons": RICH_BUTTONS,
            }
            pipe.publish(channel, json.dumps(payload))
        else:
            pipe.publish(channel, note(n % users + 1, f"burst {tag} {n}"))
    started = time.time()
    pipe.execute()
    prefix = f"burst {tag} "
    sent = telegram.wait_for_sent(
        lambda m: m.text.startswith(prefix), count=count, timeout=60 + count / 5
    )
    last = max(m.at for m in sent)
    return count / (last - started), len(sent)


def note(user_id: int, message: str) -> str:
    """A plain notification's payload."""
    return json.dumps({"user_id": user_id, "message": message})
