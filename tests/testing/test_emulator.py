"""The Bot API emulator answers like api.telegram.org, as python-telegram-bot sees it."""

from __future__ import annotations

import asyncio
import http.client
import http.server
import json
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from telegram import Bot, BotCommand, BotCommandScopeChat
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)

from bot.testing import FakeTelegram
from tests.testing.api import Api
from tests.waiting import eventually


async def test_get_me_describes_the_bot(tg_bot: Bot, telegram: FakeTelegram) -> None:
    me = await tg_bot.get_me()
    assert me.username == "notify_demo_bot"
    assert me.is_bot
    assert me.id == int(telegram.token.split(":")[0])


async def test_a_wrong_token_is_unauthorized(telegram: FakeTelegram) -> None:
    bot = Bot("999:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", base_url=telegram.base_url)
    with pytest.raises(InvalidToken):
        async with bot:  # initialize() calls getMe
            pass


def test_errors_have_telegrams_json_shape(telegram: FakeTelegram) -> None:
    telegram.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 3", parameters={"retry_after": 3}
    )
    url = urlsplit(telegram.base_url)
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
    try:
        connection.request(
            "POST",
            f"{url.path}{telegram.token}/sendMessage",
            body="chat_id=1&text=hi",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        response = connection.getresponse()
        status, body = response.status, json.loads(response.read())
    finally:
        connection.close()
    assert status == 429
    assert body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 3",
        "parameters": {"retry_after": 3},
    }


async def test_updates_are_delivered_once_and_confirmed_by_offset(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.user_says(42, "/start abc")
    telegram.user_says(42, "hello")
    first = await tg_bot.get_updates(timeout=0)
    assert [u.message.text for u in first if u.message] == ["/start abc", "hello"]
    assert first[0].message is not None
    assert first[0].message.entities[0].type == "bot_command"
    assert first[0].message.entities[0].length == len("/start")
    again = await tg_bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert again == ()
    assert telegram.pending_updates() == 0


async def test_a_long_poll_returns_as_soon_as_a_user_writes(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    poll = asyncio.create_task(tg_bot.get_updates(timeout=20, read_timeout=25))
    await asyncio.to_thread(telegram.wait_for_call, "getUpdates")
    telegram.user_says(7, "hi")
    async with asyncio.timeout(5):
        updates = await poll
    assert [u.effective_user.id for u in updates if u.effective_user] == [7]


async def test_a_second_poller_ends_the_first_with_409(tg_bot: Bot, telegram: FakeTelegram) -> None:
    first = asyncio.create_task(tg_bot.get_updates(timeout=20, read_timeout=25))
    await asyncio.to_thread(telegram.wait_for_call, "getUpdates")
    async with Bot(telegram.token, base_url=telegram.base_url) as other:
        await other.get_updates(timeout=0)
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_send_message_checks_like_telegram(tg_bot: Bot, telegram: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):
        await tg_bot.send_message(123, "hi")
    telegram.add_chat(123)
    with pytest.raises(BadRequest, match="Message is too long"):
        await tg_bot.send_message(123, "😀" * 2049)  # 4098 UTF-16 code units
    sent = await tg_bot.send_message(123, "😀" * 2048)  # exactly 4096
    assert sent.chat.id == 123
    telegram.block(123)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await tg_bot.send_message(123, "hi")


async def test_scripted_errors_map_to_python_telegram_bot_exceptions(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_chat(1)
    telegram.fail_next(
        "sendMessage", 429, "Too Many Requests: retry after 3", parameters={"retry_after": 3}
    )
    telegram.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(RetryAfter) as flood:
        await tg_bot.send_message(1, "a")
    assert flood.value.retry_after == timedelta(seconds=3)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await tg_bot.send_message(1, "b")
    await tg_bot.send_message(1, "c")
    assert [m.text for m in telegram.sent] == ["c"]


async def test_commands_are_kept_per_scope(tg_bot: Bot, telegram: FakeTelegram) -> None:
    with pytest.raises(BadRequest, match="Chat not found"):  # a chat that never met the bot
        await tg_bot.set_my_commands([BotCommand("x", "y")], scope=BotCommandScopeChat(5))
    telegram.add_chat(5)
    await tg_bot.set_my_commands([BotCommand("help", "Show help")])
    await tg_bot.set_my_commands([BotCommand("stats", "Numbers")], scope=BotCommandScopeChat(5))
    assert telegram.commands_for() == [{"command": "help", "description": "Show help"}]
    assert telegram.commands_for({"type": "chat", "chat_id": 5}) == [
        {"command": "stats", "description": "Numbers"}
    ]


async def test_commands_are_kept_per_language_and_a_client_shows_the_closest(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    """Telegram's "Determining list of commands": chat + language, chat, ..., default +
    language, default; getMyCommands answers one exact scope and language."""
    telegram.add_chat(5)
    await tg_bot.set_my_commands([BotCommand("help", "Show help")])
    await tg_bot.set_my_commands([BotCommand("help", "Hilfe")], language_code="de")
    await tg_bot.set_my_commands([BotCommand("stats", "Numbers")], scope=BotCommandScopeChat(5))
    help_de = [{"command": "help", "description": "Hilfe"}]
    help_en = [{"command": "help", "description": "Show help"}]
    assert [c.description for c in await tg_bot.get_my_commands(language_code="de")] == ["Hilfe"]
    assert await tg_bot.get_my_commands(language_code="fr") == ()  # no fallback there
    assert telegram.commands_for(language_code="de") == help_de
    assert telegram.commands_for() == help_en
    assert telegram.menu_seen(6, "de-AT") == help_de
    assert telegram.menu_seen(6, "fr") == help_en
    assert telegram.menu_seen(6) == help_en
    assert telegram.menu_seen(5, "de") == [{"command": "stats", "description": "Numbers"}]
    await tg_bot.delete_my_commands(language_code="de")
    assert telegram.menu_seen(6, "de") == help_en


@pytest.mark.parametrize("code", ["de-AT", "zh-hans", "DE", "deu"])
async def test_a_menu_language_is_two_lowercase_letters(
    tg_bot: Bot, telegram: FakeTelegram, code: str
) -> None:
    with pytest.raises(BadRequest, match="Invalid language code specified"):
        await tg_bot.set_my_commands([BotCommand("help", "Help")], language_code=code)
    assert telegram.commands_for() == []


def test_a_users_language_code_is_sent_unless_none(telegram: FakeTelegram) -> None:
    def sender(language_code: str | None = "en") -> dict[str, object]:
        update = telegram.user_says(1, "hi", language_code=language_code)
        return update["message"]["from"]  # type: ignore[no-any-return]

    assert sender()["language_code"] == "en"
    assert sender("de-AT")["language_code"] == "de-AT"
    assert "language_code" not in sender(None)


async def test_unknown_methods_answer_not_found(tg_bot: Bot) -> None:
    with pytest.raises(EndPointNotFound):  # PTB's reading of Telegram's 404 "Not Found"
        await tg_bot.do_api_request("noSuchMethod")


class _Receiver:
    """A plain HTTP endpoint standing in for the bot's webhook; answers with `status`."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.received: list[tuple[str, dict[str, str], dict[str, object]]] = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()
        self.address = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def test_set_webhook_wants_https_on_a_telegram_port(tg_bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)an https url must be provided"):
        await tg_bot.set_webhook("http://bot.example.com/telegram")
    with pytest.raises(BadRequest, match=r"(?i)ports 80, 88, 443 or 8443"):
        await tg_bot.set_webhook("https://bot.example.com:5000/telegram")
    with pytest.raises(BadRequest, match=r"(?i)secret token"):
        await tg_bot.set_webhook("https://bot.example.com/telegram", secret_token="no spaces")


async def test_a_webhook_gets_updates_with_the_secret_and_blocks_polling(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    receiver = _Receiver()
    try:
        telegram.route_webhooks_to(receiver.address)
        await tg_bot.set_webhook(
            "https://bot.example.com/telegram", secret_token="s3cret", allowed_updates=["message"]
        )
        info = await tg_bot.get_webhook_info()
        assert info.url == "https://bot.example.com/telegram"
        with pytest.raises(Conflict, match="webhook is active"):
            await tg_bot.get_updates(timeout=0)

        telegram.user_says(42, "/start")
        await eventually(lambda: telegram.pending_updates() == 0)
        path, headers, update = receiver.received[0]
        assert path == "/telegram"
        assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
        assert update["message"]["text"] == "/start"  # type: ignore[index]

        await tg_bot.delete_webhook()
        assert (await tg_bot.get_webhook_info()).url == ""
        assert await tg_bot.get_updates(timeout=0) == ()
    finally:
        receiver.close()


async def test_a_refused_webhook_delivery_is_retried_and_reported(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    receiver = _Receiver(status=403)
    try:
        telegram.route_webhooks_to(receiver.address)
        await tg_bot.set_webhook("https://bot.example.com/hook", secret_token="s3cret")
        telegram.user_says(42, "hello")
        await eventually(lambda: len(receiver.received) >= 2)
        info = await tg_bot.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
        assert telegram.pending_updates() == 1  # kept until the webhook takes it

        receiver.status = 200
        await eventually(lambda: telegram.pending_updates() == 0)
        assert [u["message"]["text"] for _p, _h, u in receiver.received] == ["hello"] * len(  # type: ignore[index]
            receiver.received
        )
    finally:
        receiver.close()


async def test_offline_refuses_connections_until_it_comes_back(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    telegram.add_chat(1)
    await tg_bot.send_message(1, "before")  # a keep-alive connection is open now
    telegram.go_offline()
    with pytest.raises(NetworkError):
        await tg_bot.send_message(1, "on the open connection")
    with pytest.raises(NetworkError):
        await tg_bot.send_message(1, "on a new connection")
    telegram.come_back()
    await tg_bot.send_message(1, "after")
    assert [m.text for m in telegram.sent] == ["before", "after"]


async def test_an_update_delivered_again_reaches_the_poller_with_a_new_id(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    """The bot confirmed it (offset = its update_id + 1): only a new update_id gets past that."""
    first = telegram.user_says(42, "/start")
    [got] = await tg_bot.get_updates(timeout=0)
    assert await tg_bot.get_updates(offset=got.update_id + 1, timeout=0) == ()
    again = telegram.deliver_again(first)
    assert again["update_id"] > first["update_id"]
    assert again["message"] == first["message"]
    [repeat] = await tg_bot.get_updates(offset=got.update_id + 1, timeout=0)
    assert repeat.update_id == again["update_id"]
    assert repeat.message is not None
    assert (repeat.message.message_id, repeat.message.text) == (
        first["message"]["message_id"],
        "/start",
    )


async def test_the_same_update_id_comes_again_while_unconfirmed(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    first = telegram.user_says(42, "hello")
    assert telegram.deliver_again(first, same_id=True) == first  # still queued: nothing to add
    assert telegram.pending_updates() == 1
    [once] = await tg_bot.get_updates(timeout=0)
    [twice] = await tg_bot.get_updates(timeout=0)  # no offset confirmed it: a restart's view
    assert once.update_id == twice.update_id == first["update_id"]


async def test_a_confirmed_update_never_comes_back_to_a_poller_with_its_id(
    tg_bot: Bot, telegram: FakeTelegram
) -> None:
    first = telegram.user_says(42, "hello")
    await tg_bot.get_updates(offset=first["update_id"] + 1, timeout=0)
    with pytest.raises(ValueError, match="confirmed"):
        telegram.deliver_again(first, same_id=True)
    with pytest.raises(ValueError, match="not an Update"):
        telegram.deliver_again({"update_id": 1})
    with pytest.raises(ValueError, match="never queued"):
        telegram.deliver_again({"update_id": 99, "message": first["message"]}, same_id=True)


async def test_a_webhook_gets_the_same_update_id_again(tg_bot: Bot, telegram: FakeTelegram) -> None:
    """Telegram re-POSTs an update whose answer it did not get, with the same update_id."""
    receiver = _Receiver()
    try:
        telegram.route_webhooks_to(receiver.address)
        await tg_bot.set_webhook("https://bot.example.com/telegram")
        first = telegram.user_says(42, "/start")
        await eventually(lambda: len(receiver.received) == 1)
        assert telegram.deliver_again(first, same_id=True) == first
        await eventually(lambda: len(receiver.received) == 2)
        assert receiver.received[1][2] == receiver.received[0][2] == first
    finally:
        receiver.close()


def test_a_repeated_update_respects_allowed_updates(telegram: FakeTelegram) -> None:
    """The repeat is created like any update: of a kind the bot left out, none is made."""
    first = telegram.user_says(42, "hello")
    api = Api(telegram)
    [got] = api.result("getUpdates")
    api.result("getUpdates", offset=got["update_id"] + 1, allowed_updates=["callback_query"])
    telegram.deliver_again(first)
    assert telegram.pending_updates() == 0
