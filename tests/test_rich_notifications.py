"""End to end: formatting, a keyboard, flags and media as the chat shows them; bad rich input."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis
import redis.asyncio

from bot.config.settings import Settings
from bot.notification import Outcome
from bot.testing import FakeTelegram
from tests.bots import RunningBot
from tests.helpers import BAD_RICH_FIELDS, link_chat, next_json, publish, wait_sent
from tests.waiting import eventually

ORDER_HTML = '<b>Order #17</b> has shipped. <a href="https://shop.example/t/17">Track it</a>'
BUTTONS = [
    [{"text": "Track parcel", "url": "https://shop.example/t/17"}],
    [{"text": "Received it", "action": "order-17:received"}],
]


async def test_a_formatted_notification_with_buttons_arrives_as_entities_and_a_keyboard(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    publish(settings, user_id=42, id="order-17", message=ORDER_HTML, format="html", buttons=BUTTONS)

    [sent] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text.startswith("Order"))
    assert sent.text == "Order #17 has shipped. Track it"
    assert sent.entities == [
        {"type": "bold", "offset": 0, "length": 9},
        {"type": "text_link", "offset": 23, "length": 8, "url": "https://shop.example/t/17"},
    ]
    assert "parse_mode" not in sent.params
    [[track], [received]] = sent.buttons
    assert track == {"text": "Track parcel", "url": "https://shop.example/t/17"}
    # The button carries a key, never the action a modified client could rewrite.
    assert "order-17" not in received["callback_data"]
    receipt = await next_json(receipts)
    assert receipt == {
        "id": "order-17",
        "user_id": 42,
        "status": "sent",
        "message_ids": [sent.message_id],
        "chats": [{"chat": "private", "status": "sent", "message_ids": [sent.message_id]}],
    }


async def test_flags_reach_telegram_and_a_topic_gets_its_message(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    forum = -1001000000777
    telegram.add_chat(forum, chat_type="supergroup", topics=(7,))
    await running_bot.bot.registry.link(42, forum)
    publish(
        settings,
        user_id=42,
        message="Quiet https://e.com",
        silent=True,
        preview=False,
        protect=True,
        thread_id=7,
    )

    [sent] = await wait_sent(telegram, chat_id=forum)
    assert sent.params["disable_notification"] is True
    assert sent.params["protect_content"] is True
    assert sent.params["message_thread_id"] == 7
    assert sent.params["link_preview_options"] == {"is_disabled": True}


async def test_a_photo_goes_with_its_caption_and_a_refused_url_fails_with_telegrams_reason(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    telegram.refuse_media("https://shop.example/missing.jpg")
    publish(
        settings, user_id=42, id="bad", message="Broken", photo="https://shop.example/missing.jpg"
    )
    publish(
        settings,
        user_id=42,
        id="good",
        message="<b>Your parcel</b>",
        format="html",
        photo="https://shop.example/p/17.jpg",
    )

    [photo] = await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.media is not None)
    assert (photo.method, photo.media, photo.text) == (
        "sendPhoto",
        "https://shop.example/p/17.jpg",
        "Your parcel",
    )
    assert photo.entities == [{"type": "bold", "offset": 0, "length": 11}]
    failed: Any = await next_json(receipts)
    sent: Any = await next_json(receipts)
    assert failed["status"] == "failed"
    assert failed["chats"] == [
        {
            "chat": "private",
            "status": "failed",
            "message_ids": [],
            "reason": "Wrong file identifier/http url specified",
        }
    ]
    assert (sent["id"], sent["status"], sent["message_ids"]) == ("good", "sent", [photo.message_id])
    # Refused for good: one try, no retry loop; kept as a dead letter with Telegram's reason.
    assert len(telegram.calls_to("sendPhoto")) == 2
    [letter] = await running_bot.bot.dead_letters.latest(10)
    assert "wrong file identifier/http url specified" in letter.reason.lower()


async def test_a_caption_too_long_goes_as_the_document_then_the_text_with_the_buttons(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    long_text = "Invoice details. " * 80  # 1,360 characters: over the caption limit
    publish(
        settings,
        user_id=42,
        id="inv-1",
        message=long_text,
        document="https://shop.example/invoice-17.pdf",
        buttons=[[{"text": "Pay", "url": "https://shop.example/pay/17"}]],
    )

    document, text = await wait_sent(
        telegram,
        chat_id=9001,
        count=2,
        predicate=lambda m: m.media is not None or m.text.startswith("Invoice"),
    )
    assert (document.method, document.text, document.buttons) == ("sendDocument", "", [])
    assert text.method == "sendMessage"
    assert text.text == long_text
    assert text.buttons == [[{"text": "Pay", "url": "https://shop.example/pay/17"}]]
    receipt: Any = await next_json(receipts)
    assert receipt["message_ids"] == [document.message_id, text.message_id]


@pytest.mark.parametrize(("fields", "reason"), BAD_RICH_FIELDS)
async def test_bad_rich_input_is_dead_lettered_and_the_next_one_delivered(
    running_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    fields: dict[str, Any],
    reason: str,
) -> None:
    await link_chat(telegram, redis_client, user_id=42, chat_id=9001)
    publish(settings, **{"user_id": 42, "message": "bad one", **fields})
    publish(settings, user_id=42, message="after the bad one")

    await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "after the bad one")
    stats = running_bot.bot.stats
    await eventually(lambda: stats.outcomes[Outcome.SENT] == 1)
    assert stats.outcomes[Outcome.INVALID] == 1
    assert not [m for m in telegram.sent if m.text == "bad one"]
    letters = await running_bot.bot.dead_letters.latest(10)
    assert len(letters) == 1
    assert letters[0].reason.startswith(reason)
    assert "\n" not in letters[0].reason
    assert json.loads(letters[0].payload)["message"] == fields.get("message", "bad one")
