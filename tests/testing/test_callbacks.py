"""Buttons pressed: `tap` queues the callback_query Telegram would send, delivered only to a bot
that asked for callback queries, and answerCallbackQuery answers each query once."""

from __future__ import annotations

import pytest
from telegram import Bot
from telegram.error import BadRequest

from bot.testing import FakeTelegram, JSONDict
from tests.testing.api import Api

CHAT = 42
ROWS = [
    [{"text": "Yes", "callback_data": "vote:yes"}, {"text": "No", "callback_data": "vote:no"}],
    [{"text": "Docs", "url": "https://example.com/docs"}],
]


@pytest.fixture
def poll(api: Api, telegram: FakeTelegram) -> JSONDict:
    """A message with buttons the bot sent to CHAT."""
    telegram.add_chat(CHAT)
    message: JSONDict = api.result(
        "sendMessage", chat_id=CHAT, text="Vote?", reply_markup={"inline_keyboard": ROWS}
    )
    return message


async def test_a_tap_queues_a_callback_query_with_the_message_and_data(
    tg_bot: Bot, api: Api, telegram: FakeTelegram, poll: JSONDict
) -> None:
    query_id = telegram.tap(CHAT, poll["message_id"], button="Yes", first_name="Ann")
    [raw] = api.result("getUpdates")  # not confirmed: python-telegram-bot gets it again
    assert raw["callback_query"]["message"] == poll  # the full Message, as Telegram includes it
    [update] = await tg_bot.get_updates(timeout=0)
    query = update.callback_query
    assert query is not None
    assert (query.id, query.data) == (query_id, "vote:yes")
    assert (query.from_user.id, query.from_user.first_name) == (CHAT, "Ann")
    assert query.chat_instance
    assert query.message is not None
    assert query.message.message_id == poll["message_id"]
    assert query.message.chat.id == CHAT


def test_a_tap_must_press_a_callback_button_the_bot_sent(
    telegram: FakeTelegram, poll: JSONDict
) -> None:
    with pytest.raises(ValueError, match="no button 'Maybe'"):
        telegram.tap(CHAT, poll["message_id"], button="Maybe")
    with pytest.raises(ValueError, match="sends no callback_data"):
        telegram.tap(CHAT, poll["message_id"], button="Docs")
    with pytest.raises(ValueError, match="sent no message"):
        telegram.tap(CHAT, poll["message_id"] + 1, button="Yes")
    with pytest.raises(ValueError, match="exactly one"):
        telegram.tap(CHAT, poll["message_id"])
    assert telegram.pending_updates() == 0


async def test_a_modified_client_can_forge_any_data(
    tg_bot: Bot, telegram: FakeTelegram, poll: JSONDict
) -> None:
    telegram.tap(CHAT, poll["message_id"], data="admin:delete_everything")
    [update] = await tg_bot.get_updates(timeout=0)
    assert update.callback_query is not None
    assert update.callback_query.data == "admin:delete_everything"


def test_a_tap_in_a_group_says_who_tapped(api: Api, telegram: FakeTelegram) -> None:
    telegram.add_chat(-100200, chat_type="supergroup")
    sent = api.result(
        "sendMessage", chat_id=-100200, text="Vote?", reply_markup={"inline_keyboard": ROWS}
    )
    with pytest.raises(ValueError, match="user_id"):
        telegram.tap(-100200, sent["message_id"], button="No")
    telegram.tap(-100200, sent["message_id"], button="No", user_id=7)
    [update] = api.result("getUpdates")
    assert update["callback_query"]["from"]["id"] == 7


async def test_a_bot_that_left_callback_query_out_never_gets_one(
    tg_bot: Bot, telegram: FakeTelegram, poll: JSONDict
) -> None:
    assert await tg_bot.get_updates(timeout=0, allowed_updates=["message"]) == ()
    telegram.tap(CHAT, poll["message_id"], button="Yes")
    telegram.user_says(CHAT, "hi")
    updates = await tg_bot.get_updates(timeout=0)  # keeps the allowed_updates it gave
    assert [u.message.text for u in updates if u.message] == ["hi"]
    assert [u for u in updates if u.callback_query] == []
    # Asking for them later does not bring back the tap Telegram never created ...
    confirm = updates[-1].update_id + 1
    assert await tg_bot.get_updates(offset=confirm, timeout=0, allowed_updates=[]) == ()
    # ... but the next tap arrives.
    telegram.tap(CHAT, poll["message_id"], button="No")
    [update] = await tg_bot.get_updates(offset=confirm, timeout=0)
    assert update.callback_query is not None
    assert update.callback_query.data == "vote:no"


async def test_a_query_is_answered_once(
    tg_bot: Bot, telegram: FakeTelegram, poll: JSONDict
) -> None:
    query_id = telegram.tap(CHAT, poll["message_id"], button="Yes")
    assert await tg_bot.answer_callback_query(query_id, text="Counted", show_alert=True)
    answer = telegram.wait_for_answer(query_id)
    assert (answer["callback_query_id"], answer["text"]) == (query_id, "Counted")
    assert answer["show_alert"] in (True, "true")
    with pytest.raises(BadRequest, match="Query is too old"):
        await tg_bot.answer_callback_query(query_id)
    assert telegram.answers == [answer]


def test_only_queries_telegram_made_can_be_answered(api: Api, telegram: FakeTelegram) -> None:
    assert api.refusal("answerCallbackQuery", callback_query_id="12345") == (
        "Bad Request: query is too old and response timeout expired or query ID is invalid"
    )
    with pytest.raises(ValueError, match="no callback query"):
        telegram.wait_for_answer("12345")


def test_an_answer_text_over_200_characters_is_refused(
    api: Api, telegram: FakeTelegram, poll: JSONDict
) -> None:
    query_id = telegram.tap(CHAT, poll["message_id"], button="No")
    assert (
        api.refusal("answerCallbackQuery", callback_query_id=query_id, text="x" * 201)
        == "Bad Request: MESSAGE_TOO_LONG"
    )
    assert api.result("answerCallbackQuery", callback_query_id=query_id, text="x" * 200)


def test_waiting_for_an_unanswered_query_times_out(telegram: FakeTelegram, poll: JSONDict) -> None:
    query_id = telegram.tap(CHAT, poll["message_id"], button="No")
    with pytest.raises(TimeoutError):
        telegram.wait_for_answer(query_id, timeout=0)
