"""End to end: a template reaches each user in their language, values arrive literally, and a
notification that cannot render is invalid while the next one is delivered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio

from bot.config.settings import Settings
from bot.preferences import parse_categories
from bot.publisher import AsyncPublisher
from bot.store.languages import TELEGRAM_LANGUAGE
from bot.store.manifest import TEMPLATES
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, next_json, publish, wait_sent
from tests.waiting import eventually

ORDER_SHIPPED = """\
format = "html"
category = "orders"

[en]
message = "<b>Order {{ order }}</b> ships on {{ eta | date }}"
buttons = [[{ text = "Track", url = "https://shop.example/t/{{ order }}" }],
           [{ text = "Received it", action = "order-{{ order }}:received" }]]

[de]
message = "<b>Bestellung {{ order }}</b> wird am {{ eta | date }} versandt"
buttons = [[{ text = "Verfolgen", url = "https://shop.example/t/{{ order }}" }],
           [{ text = "Erhalten", action = "order-{{ order }}:received" }]]
"""


# A language the bot's own replies lack: its readers read it in French all the same.
WELCOME = """\
[en]
message = "Welcome, {{ name }}"

[fr]
message = "Bienvenue, {{ name }}"
"""


@pytest.fixture
def templates_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "templates"
    directory.mkdir()
    (directory / "order_shipped.toml").write_text(ORDER_SHIPPED)
    (directory / "welcome.toml").write_text(WELCOME)
    return directory


@pytest.fixture
async def templated_bot(
    settings: Settings, templates_dir: Path, redis_client: redis.asyncio.Redis
) -> AsyncIterator[RunningBot]:
    categories = parse_categories("orders:Orders|de=Bestellungen")
    running = await start_bot(
        settings.model_copy(update={"templates_dir": templates_dir, "categories": categories})
    )
    yield running
    if not running.task.done():
        await running.shutdown()


async def test_a_template_reaches_each_user_in_their_own_language(
    templated_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    receipts: redis.asyncio.client.PubSub,
) -> None:
    await link_chat(telegram, redis_client, user_id=41, chat_id=41, language_code="de-AT")
    await link_chat(telegram, redis_client, user_id=42, chat_id=42, language_code="en")
    data = {"order": 17, "eta": "2026-12-24"}
    publish(settings, user_id=41, id="t-41", template="order_shipped", data=data)
    publish(settings, user_id=42, id="t-42", template="order_shipped", data=data)

    [german] = await wait_sent(telegram, chat_id=41, predicate=lambda m: "17" in m.text)
    [english] = await wait_sent(telegram, chat_id=42, predicate=lambda m: "17" in m.text)
    assert german.text == "Bestellung 17 wird am 24.12.2026 versandt"
    assert german.entities == [{"type": "bold", "offset": 0, "length": 13}]
    assert english.text == "Order 17 ships on Dec 24, 2026"
    [[track], [received]] = german.buttons
    assert track == {"text": "Verfolgen", "url": "https://shop.example/t/17"}
    assert received["text"] == "Erhalten"
    [[track], [received]] = english.buttons
    assert (track["text"], received["text"]) == ("Track", "Received it")
    languages = {}
    for _ in range(2):
        receipt = await next_json(receipts)
        assert isinstance(receipt, dict)
        languages[receipt["id"]] = receipt["language"]
    assert languages == {"t-41": "de", "t-42": "en"}


async def test_a_user_who_picked_a_language_reads_it_whatever_telegram_says(
    templated_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=43, chat_id=43, language_code="de")
    before = len([m for m in telegram.sent if m.chat_id == 43])
    telegram.user_says(43, "/language en", language_code="de")  # the app stays German
    await wait_sent(telegram, chat_id=43, count=before + 1)
    publish(settings, user_id=43, template="order_shipped", data={"order": 5, "eta": "2026-01-02"})

    [sent] = await wait_sent(telegram, chat_id=43, predicate=lambda m: "5" in m.text)
    assert sent.text == "Order 5 ships on Jan 2, 2026"


async def test_a_template_language_the_bot_has_no_replies_in_is_read_and_can_be_picked(
    templated_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=44, chat_id=44, language_code="fr-CA")
    await link_chat(telegram, redis_client, user_id=45, chat_id=45, language_code="en")
    before = len([m for m in telegram.sent if m.chat_id == 45])
    telegram.user_says(45, "/language fr")
    [*_, picked] = await wait_sent(telegram, chat_id=45, count=before + 1)
    # The bot's own messages have no French: it says so in the language it writes in.
    assert picked.text == "From now on I write to you in français."
    publish(settings, user_id=44, template="welcome", data={"name": "Ana"})
    publish(settings, user_id=45, template="welcome", data={"name": "Bo"})

    await wait_sent(telegram, chat_id=44, predicate=lambda m: m.text == "Bienvenue, Ana")
    await wait_sent(telegram, chat_id=45, predicate=lambda m: m.text == "Bienvenue, Bo")


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"template": "order_shipped", "data": {"order": 1}}, "data.eta: missing"),
        ({"template": "nope", "data": {}}, "template: 'nope' is not one of this bot's"),
        (
            {"template": "order_shipped", "data": {"order": 1, "eta": "soon"}},
            "template order_shipped [en]: data.eta: expected a date",
        ),
        ({"template": "welcome", "message": "hi"}, "message and template: give one"),
        ({"template": "welcome", "data": {"name": "x" * 17_000}}, "over the limit of 16384"),
    ],
)
async def test_a_notification_that_cannot_render_is_invalid_and_the_next_arrives(
    templated_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
    fields: dict[str, object],
    reason: str,
) -> None:
    await link_chat(telegram, redis_client, user_id=46, chat_id=46)
    publish(settings, user_id=46, id="bad", **fields)
    publish(settings, user_id=46, template="welcome", data={"name": "next"})

    await wait_sent(telegram, chat_id=46, predicate=lambda m: m.text == "Welcome, next")
    [entry] = await templated_bot.bot.dead_letters.latest(1)
    assert reason in entry.reason
    assert not [m for m in telegram.sent if m.chat_id == 46 and "Order" in m.text]


async def test_a_categorys_label_on_the_mute_button_is_in_the_readers_language(
    templated_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=47, chat_id=47, language_code="de")
    await link_chat(telegram, redis_client, user_id=48, chat_id=48, language_code="en")
    data = {"order": 9, "eta": "2026-05-01"}
    for user in (47, 48):
        # The template's category (orders) applies; the payload asks for the mute button.
        publish(settings, user_id=user, template="order_shipped", data=data, mute_button=True)

    [german] = await wait_sent(telegram, chat_id=47, predicate=lambda m: "9" in m.text)
    [english] = await wait_sent(telegram, chat_id=48, predicate=lambda m: "9" in m.text)
    assert german.buttons[-1] == [{"text": "🔕 Bestellungen", "callback_data": "m:orders"}]
    assert english.buttons[-1] == [{"text": "🔕 Orders", "callback_data": "m:orders"}]


async def test_an_edit_by_id_renders_the_template_again_in_the_users_language(
    templated_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=49, chat_id=49, language_code="de")
    first = {"order": 3, "eta": "2026-06-01"}
    publish(settings, user_id=49, id="o-3", template="order_shipped", data=first)
    [sent] = await wait_sent(telegram, chat_id=49, predicate=lambda m: "3" in m.text)
    later = {"order": 3, "eta": "2026-06-05"}
    publish(settings, op="edit", user_id=49, id="o-3", template="order_shipped", data=later)

    [edited] = await wait_sent(telegram, chat_id=49, predicate=lambda m: "05.06" in m.text)
    assert edited.message_id == sent.message_id
    assert edited.text == "Bestellung 3 wird am 05.06.2026 versandt"
    assert edited.buttons[0] == [{"text": "Verfolgen", "url": "https://shop.example/t/3"}]


async def test_the_web_app_may_pick_a_language_only_a_template_has(
    templated_bot: RunningBot, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    web = AsyncPublisher(redis_client)
    await eventually(lambda: redis_client.exists(TEMPLATES))  # declared once the bot is ready
    assert (await web.set_preferences(50, language="fr")).language == "fr"
    with pytest.raises(ValueError, match="no messages or templates in 'it'; there are: en, de, fr"):
        await web.set_preferences(50, language="it")


async def test_a_digest_of_templated_notifications_reads_in_the_users_language(
    settings: Settings,
    templates_dir: Path,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
) -> None:
    """Each line is rendered in the reader's language when it is digested, and the digest's
    title is the category's label in it."""
    config = settings.model_copy(
        update={
            "templates_dir": templates_dir,
            "categories": parse_categories("orders:Orders|de=Bestellungen"),
            "digest": {"orders": 1},
        }
    )
    running = await start_bot(config)
    try:
        await link_chat(telegram, redis_client, user_id=51, chat_id=51, language_code="de")
        for order in (1, 2):
            data = {"order": order, "eta": "2026-03-0" + str(order)}
            publish(config, user_id=51, template="order_shipped", data=data)
        [digest] = await wait_sent(
            telegram, chat_id=51, predicate=lambda m: m.text.startswith("📬"), timeout=15
        )
        assert digest.text == (
            "📬 Bestellungen (2)\n"
            "• Bestellung 1 wird am 01.03.2026 versandt\n"
            "• Bestellung 2 wird am 02.03.2026 versandt"
        )
    finally:
        await running.shutdown()


async def test_a_user_whose_app_changes_language_reads_the_next_template_in_the_new_one(
    templated_bot: RunningBot,
    telegram: FakeTelegram,
    redis_client: redis.asyncio.Redis,
    settings: Settings,
) -> None:
    await link_chat(telegram, redis_client, user_id=52, chat_id=52, language_code="en")
    before = len([m for m in telegram.sent if m.chat_id == 52])
    telegram.user_says(52, "/help", language_code="de-DE")  # the app switched to German
    await wait_sent(telegram, chat_id=52, count=before + 1)

    async def stored() -> bool:
        return await redis_client.hget(TELEGRAM_LANGUAGE, "52") == b"de-DE"

    await eventually(stored, what="the new language stored")
    publish(settings, user_id=52, template="order_shipped", data={"order": 4, "eta": "2026-02-01"})
    [german] = await wait_sent(telegram, chat_id=52, predicate=lambda m: "4" in m.text)
    assert german.text == "Bestellung 4 wird am 01.02.2026 versandt"
