"""What a web app imports to publish notifications and make deep links, sync and async.

    from bot.publisher import Publisher, Button
    notifier = Publisher.from_url("redis://localhost:6379/0")
    notifier.publish(42, "Your order is on its way!")   # durable: the stream; -> Published(1)
    notifier.publish(42, "<b>Order #17</b> has shipped", format="html",
                     buttons=[[Button.url("Track parcel", "https://shop.example/t/17")],
                              [Button.action("Received it", "order-17:received")]])
    notifier.enqueue(42, "Your code: 1234", priority="high", ttl=300)
    notifier.edit("order-17", 42, "<b>Order #17</b> was delivered", format="html")
    notifier.fan_out([42, 43, 44], "The sale starts now", id="sale-1")
    notifier.publish(42, template="order_shipped", data={"order": 17, "eta": "2026-12-24"})
    notifier.templates()   # -> {"order_shipped": Template(...)}: languages, variables, ...
    notifier.create_link(42)   # -> "https://t.me/<bot>?start=<token>"
    for event in notifier.actions(group="shop"):   # taps on action buttons
        handle(event.action, event.user_id)          # acknowledged when the loop goes on
    for event in notifier.link_events(group="shop"):   # chats linked and unlinked
        show_connected(event.user_id, event.type == "linked")
    notifier.publish(42, "Where should we leave it?", id="order-17", reply="At the door")
    notifier.publish(42, "Confirm your table", id="table-3", remind=(600, 3))
    notifier.ack("table-3", 42)   # confirmed on the web: no more reminders
    for event in notifier.feedback(group="shop"):   # answers, reactions, unacknowledged
        handle(event.type, event.id, event.text)

`AsyncPublisher` has the same methods, to await. The wire format is plain JSON, so publishing
needs nothing from this package: ``redis.Redis().publish("notification", json.dumps({"user_id":
42, "message": "hi"}))``; but a raw PUBLISH is fire-and-forget (lost when no bot listens), and
`publish` uses the stream. A plain `pip install` of the package brings what this needs (redis,
hiredis, pydantic, markdown-it-py): no python-telegram-bot, and no side effects on import.
"""

from bot.publisher.aio import AsyncPublisher
from bot.publisher.blocking import Publisher
from bot.publisher.events import EVENTS_WAIT, ActionEvent, FeedbackEvent, FeedbackType, LinkEvent
from bot.publisher.manifest import Template
from bot.publisher.operations import (
    DEFAULT_ACTIONS_STREAM,
    DEFAULT_CHANNEL,
    DEFAULT_FEEDBACK_STREAM,
    DEFAULT_LINK_TTL,
    DEFAULT_REDIS_URL,
    DEFAULT_STREAM,
    DEFAULT_STREAM_MAXLEN,
)
from bot.publisher.options import (
    Button,
    ContentOptions,
    DeliveryOptions,
    EditOptions,
    FanOutOptions,
    FeedbackOptions,
    Moment,
    Options,
    PreferenceChanges,
    Receipts,
    Via,
)
from bot.publisher.payloads import Published, encode

__all__ = [
    "DEFAULT_ACTIONS_STREAM",
    "DEFAULT_CHANNEL",
    "DEFAULT_FEEDBACK_STREAM",
    "DEFAULT_LINK_TTL",
    "DEFAULT_REDIS_URL",
    "DEFAULT_STREAM",
    "DEFAULT_STREAM_MAXLEN",
    "EVENTS_WAIT",
    "ActionEvent",
    "AsyncPublisher",
    "Button",
    "ContentOptions",
    "DeliveryOptions",
    "EditOptions",
    "FanOutOptions",
    "FeedbackEvent",
    "FeedbackOptions",
    "FeedbackType",
    "LinkEvent",
    "Moment",
    "Options",
    "PreferenceChanges",
    "Published",
    "Publisher",
    "Receipts",
    "Template",
    "Via",
    "encode",
]
