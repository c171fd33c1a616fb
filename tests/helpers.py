"""Steps and data many tests share: what a user or a web app does, and what it then sees."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import redis
import redis.asyncio
from telegram.error import NetworkError

from bot.chat.i18n import gettext, pick
from bot.chat.linking import LINKED
from bot.config.settings import Settings
from bot.loops.reconnect import Outage
from bot.publisher import AsyncPublisher
from bot.store.chat_links import queue_link
from bot.store.chats import LinkedChat
from bot.store.client import CONNECTION_ERRORS
from bot.store.roundtrips import RoundTrips
from bot.store.schema import SCHEMA, VERSION
from bot.telegram.sender import Sender
from bot.testing import FakeTelegram, SentMessage

# The demo's chat gets more than Telegram's per-chat burst of 3, so the bot paces it at 1/s
# (tests/telegram/test_pacing.py tests that): in the demo's tests that would only make the
# story seconds longer.
DEMO_FAST = {"TELEGRAM_CHAT_BURST": "1000"}


def token_of(link: str) -> str:
    """The ?start= (or ?startgroup=) payload of a deep link."""
    query = parse_qs(urlsplit(link).query)
    return (query.get("start") or query["startgroup"])[0]


async def wait_sent(telegram: FakeTelegram, **kwargs: object) -> list[SentMessage]:
    """FakeTelegram.wait_for_sent without blocking the event loop the bot runs in."""
    return await asyncio.to_thread(telegram.wait_for_sent, **kwargs)  # type: ignore[arg-type]


async def link_chat(
    telegram: FakeTelegram,
    client: redis.asyncio.Redis,
    user_id: int,
    chat_id: int,
    language_code: str = "en",
) -> None:
    """Link `chat_id` to `user_id` the way a user does: open a deep link, get the confirmation
    (in English, or in the language of the user's app, `language_code`)."""
    link = await AsyncPublisher(client).create_link(user_id)
    before = len([m for m in telegram.sent if m.chat_id == chat_id])
    telegram.user_says(chat_id, f"/start {token_of(link)}", language_code=language_code)
    replies = await wait_sent(telegram, chat_id=chat_id, count=before + 1)
    assert replies[-1].text == gettext(pick(language_code), LINKED)


def plain_publish(url: str, channel: str, payload: object) -> int:
    """Exactly what a web app with only redis-py does (the wire-format contract)."""
    data = payload if isinstance(payload, (str, bytes)) else json.dumps(payload)
    client = redis.Redis.from_url(url)
    try:
        return int(client.publish(channel, data))
    finally:
        client.close()


def note_json(user_id: int, message: str, **extra: object) -> str:
    """A notification as a web app writes it: `{"user_id": ..., "message": ..., ...}`."""
    return json.dumps({"user_id": user_id, "message": message, **extra})


def publish(settings: Settings, **payload: Any) -> None:
    """A notification published on the bot's channel as a plain web app would."""
    plain_publish(settings.redis_url, settings.notification_channel, payload)


async def reply_to(
    telegram: FakeTelegram, user_id: int, text: str, chat: dict[str, object] | None = None
) -> SentMessage:
    """Send `text` as `user_id` (in `chat`, else their private chat) and wait for the bot's
    reply, as the chat shows it: whatever the command changed in Redis is written by then."""
    chat_id = int(chat["id"]) if chat else user_id  # type: ignore[call-overload]
    before = len([m for m in telegram.sent if m.chat_id == chat_id])
    telegram.user_says(user_id, text, chat=chat)
    replies = await wait_sent(telegram, chat_id=chat_id, count=before + 1)
    return replies[-1]


async def receipt_for(pubsub: redis.asyncio.client.PubSub, status: str) -> dict[str, Any]:
    """The next receipt with `status` (others, e.g. the send before an edit, are skipped)."""
    while True:
        receipt: Any = await next_json(pubsub)
        if receipt["status"] == status:
            return dict(receipt)


async def next_json(pubsub: redis.asyncio.client.PubSub, within: float = 10) -> object:
    """The next message published to a subscription, decoded from JSON."""
    async with asyncio.timeout(within):
        while True:
            # None also stands for the filtered subscribe confirmation: keep reading.
            message = await pubsub.get_message(timeout=within)
            if message is not None and message["type"] == "message":
                return json.loads(message["data"])


def report(*figures: object) -> None:
    """Figures worth reading in the output of `pytest -s` (the closing notes quote them)."""
    print(*figures)  # noqa: T201


def store_links(client: redis.Redis, links: Mapping[int, int]) -> None:
    """Links (user id -> chat id) written with the registry's own writes, in a database marked
    with the current schema: what a bot of this version leaves, with nothing to migrate."""
    with client.pipeline(transaction=False) as pipe:
        pipe.set(SCHEMA, VERSION)
        for user, chat in links.items():
            queue_link(pipe, user, (), LinkedChat(chat))
        pipe.execute()


def link_directly(
    client: redis.Redis, telegram: FakeTelegram, users: range, chat_base: int
) -> None:
    """Users linked before the test (user n -> chat chat_base + n), without a /start exchange."""
    store_links(client, {user: chat_base + user for user in users})
    for user in users:
        telegram.add_chat(chat_base + user)


def redis_outage(client: redis.asyncio.Redis) -> Outage:
    """What the bot's lanes share to wait for Redis, as app.build makes it."""
    return Outage("redis_lanes", client.ping, CONNECTION_ERRORS, base=0.01, cap=0.1)


def telegram_outage(sender: Sender) -> Outage:
    """What the bot's sends share to wait for Telegram, as app.build makes it (faster)."""
    return Outage("telegram_sending", sender.get_me, (NetworkError,), base=0.05, cap=0.2)


class CountedTrips(RoundTrips):
    """RoundTrips that counts the trips it makes."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        super().__init__(client)
        self.count = 0

    async def _one_trip(self, trip: list[Any]) -> None:
        self.count += 1
        await super()._one_trip(trip)


EXAMPLE_BUTTON = {"text": "Open", "url": "https://shop.example/t/17"}

# Rich fields a notification is refused for, with the start of the reason it is refused with
# (the unit test of parsing and the end-to-end test of dead letters share them).
BAD_RICH_FIELDS: list[tuple[dict[str, Any], str]] = [
    ({"format": "bbcode"}, "format: input should be 'text', 'html' or 'markdown'"),
    (
        {"format": "html", "message": "Hello <b>world"},
        "message: unclosed <b> at character 7",
    ),
    ({"format": "html", "message": "<div>x</div>"}, "message: unsupported tag <div>"),
    (
        {"format": "html", "message": '<a href="javascript:alert(1)">x</a>'},
        "message: <a href> at character 1: 'javascript:alert(1)' is not an http, https",
    ),
    (
        {"format": "markdown", "message": "[x](javascript:alert(1))"},
        "message: 'javascript:alert(1)' is not an http, https or tg link",
    ),
    ({"format": "html", "message": "<b> </b>"}, "message: nothing to show once the html"),
    ({"buttons": [[EXAMPLE_BUTTON], []]}, "buttons: row 1 is empty"),
    (
        {"buttons": [[{"text": "Both", "url": "https://e.com", "action": "a"}]]},
        "buttons.0.0: a button needs either url or action, not both",
    ),
    ({"buttons": [[{"text": "Neither"}]]}, "buttons.0.0: a button needs either url or"),
    (
        {"buttons": [[{"text": " ", "url": "https://e.com"}]]},
        "buttons.0.0: text must not be blank",
    ),
    (
        {"buttons": [[EXAMPLE_BUTTON] * 10] * 11},
        "buttons: 110 buttons, over Telegram's limit of 100",
    ),
    (
        {"buttons": [[{"text": "Long", "action": "a" * 1001}]]},
        "buttons.0.0.action: string should have at most 1000 characters",
    ),
    (
        {"buttons": [[{"text": "Evil", "url": "javascript:alert(1)"}]]},
        "buttons.0.0: 'javascript:alert(1)' is not an http, https or tg link",
    ),
    (
        {"photo": "https://e.com/p.jpg", "document": "https://e.com/d.pdf"},
        "photo and document: give one of them, not both",
    ),
    (
        {"buttons": [[{"text": "Dev", "url": "http://localhost:3000/o/17"}]]},
        "buttons.0.0: 'http://localhost:3000/o/17' is a link Telegram refuses",
    ),
    ({"photo": "http://e.com/p.jpg"}, "photo: must be an https URL or a Telegram file_id"),
    ({"document": "ftp://e.com/d.pdf"}, "document: must be an https URL or a Telegram"),
    ({"thread_id": "7"}, "thread_id: input should be a valid integer"),
    ({"thread_id": 7.5}, "thread_id: input should be a valid integer"),
    ({"silent": "yes"}, "silent: input should be a valid boolean"),
]


# A send in flight at a SIGKILL was handed to Telegram moments before the kill (the emulator
# answers in milliseconds, and the settle follows its answer): a first copy older than this is
# a double of something else. Moments are longer on a loaded machine: in one CI run (the floor
# versions, six workers on two cores) the test killed the bot 1-2 s after the send it waited
# for, and that send, still unsettled, came twice; 1 s called it the bot's fault.
IN_FLIGHT_WINDOW = 2.0


def not_in_flight_at_kill(sent: list[SentMessage], kills: list[float]) -> list[str]:
    """The texts sent more than once whose first copy was not in flight at one of `kills`
    (`time.time()` of each SIGKILL): each is a double the bot is to blame for."""
    first: dict[str, float] = {}
    seen: dict[str, int] = {}
    for message in sent:
        first.setdefault(message.text, message.at)
        seen[message.text] = seen.get(message.text, 0) + 1
    return [
        text
        for text, count in seen.items()
        if count > 1 and not any(kill - IN_FLIGHT_WINDOW <= first[text] <= kill for kill in kills)
    ]
