"""A Telegram Bot API emulator on loopback, for tests, the offline demo and your own tests.

It is a real HTTP server that answers the requests python-telegram-bot makes, shaped the way
api.telegram.org answers them, so a bot under test runs unchanged with
``base_url=emulator.base_url``::

    from bot.testing import FakeTelegram

    with FakeTelegram() as telegram:
        # run the bot with TELEGRAM_BASE_URL=telegram.base_url, BOT_TOKEN=telegram.token
        telegram.user_says(42, "/start")          # a user writes to the bot
        reply = telegram.wait_for_sent(chat_id=42)  # what the bot sent back
        telegram.fail_next("sendMessage", 429, "Too Many Requests: retry after 3",
                           parameters={"retry_after": 3})

What it covers: getMe, getUpdates (long polling, offsets, 409 when a second poller takes
over or a webhook is set; allowed_updates kept as Telegram keeps them, the default set without
chat_member and reactions),
setWebhook/deleteWebhook/getWebhookInfo (updates are then POSTed to the webhook with its
secret header, retried until answered 2xx), and Telegram's checks on what the bot sends:

- sendMessage: unknown chat, blocked user, empty or too long text, parse_mode=HTML tags,
  `entities` (types, UTF-16 offsets and lengths, text_link URLs; a parse_mode wins over them),
  `link_preview_options`;
- sendPhoto/sendDocument by URL or file_id (no uploads): `refuse_media(url)` makes a URL fail,
  `add_file(file_id, kind=...)` makes a file known, and file_ids the emulator answered with are
  accepted again; `caption` (1024 at most) and `caption_entities`;
- on all three: inline keyboards in `reply_markup` (button kinds, URLs, 1-64 bytes of
  callback_data, 100 buttons), `protect_content`, `disable_notification`, and
  `message_thread_id` for forum chats made with `add_chat(chat_id, chat_type="supergroup",
  topics=(...))`; flood limits when `limits` is given;
- editMessageText, editMessageCaption, editMessageReplyMarkup (the same text, caption and
  keyboard checks; "message is not modified"; a keyboard left out is taken off) and
  deleteMessage, with Telegram's 48-hour limit on deleting: `age_message(chat_id, message_id,
  seconds)` makes a message older;
- buttons pressed: `tap(chat_id, message_id, button=...)` queues a callback_query;
  answerCallbackQuery answers it once (`answers`, `wait_for_answer`);
- setMyCommands/getMyCommands/deleteMyCommands, one menu per scope and language_code
  (`commands_for`; `menu_seen` is the one a user's client shows), and scripted faults for any
  method: error answers, hung requests, dropped connections;
- groups, supergroups and channels with people in them (members.py, chats.py):
  `add_group(chat_id, chat_type=..., creator=, admins=, members=, kicked=, topics=,
  bot_status=None|"member"|"administrator", bot_rights=, username=)` and
  `add_channel(chat_id, admins=, bot_status="administrator", ...)`; getChatMember answers
  ChatMemberOwner/Administrator (all the rights)/Member/Left/Banned, and Telegram's errors;
  `add_bot(chat_id, by=, start=payload, as_admin=)` queues my_chat_member, the
  new_chat_members service message and the "/start@<bot> <payload>" of a startgroup link;
  `remove_bot(chat_id, by=)` queues my_chat_member ("left", or "kicked" in a supergroup or
  channel) and makes sends, edits and deletes there answer 403 ("bot was kicked from the
  group chat", ...), as do chats the bot is not in; `migrate_group(chat_id, new_chat_id)`
  (then 400 "group chat was upgraded to a supergroup chat" with migrate_to_chat_id); in a
  group made by add_group only members write, and the bot (privacy mode) hears only commands
  unless it is an administrator;
- channels: `channel_post(chat_id, text, author=)` queues a channel_post (sender_chat, no
  `from`); the bot posts only as an administrator with can_post_messages, and deletes
  others' messages in groups and channels only as an administrator (can_delete_messages);
- forum topics (topics.py): `add_topic(chat_id, name=)` returns the new thread id,
  `user_says(..., chat=chat_id, thread_id=N)` writes in it (message_thread_id,
  is_topic_message, reply_to_message = the topic's forum_topic_created message),
  `delete_topic` and deleteForumTopic delete it ("message thread not found" afterwards);
- `block(chat_id)` queues my_chat_member "kicked" in the private chat (`notify=False`: not);
  the user writing again unblocks it;
- replies (replies.py): `reply_parameters` (or `reply_to_message_id`) on every send, "message
  to be replied not found" unless allow_sending_without_reply, reply_to_message without a
  nested reply (`SentMessage.reply_to`); a ForceReply in reply_markup (`SentMessage.force_reply`,
  `.placeholder`); `user_says(..., reply_to=message_id or a forged dict, entities=[...])`;
- reactions (reactions.py): `react(user_id, chat_id, message_id, emoji=, custom_emoji=)`
  queues message_reaction (only when allowed_updates list it; in groups only for an
  administrator bot; channels give message_reaction_count), setMessageReaction,
  `reactions_on`;
- `deliver_again(update, same_id=False)`: Telegram delivers an update once more.

Users write with `user_says` and tap with `tap`, as Telegram users whose app is in English
unless `language_code` says otherwise (None: a user whose client sends none). A chat made with
`add_chat` or first seen in a `user_says` has the bot in it and no member list: anyone who
writes there joins it.

What the bot sent is in `sent` (SentMessage: text or caption, entities, buttons, media), as the
chats show it now: edits applied (each also in `edits`), deleted messages gone (their ids in
`deleted`).
Other methods answer 404 Not Found, as Telegram does for unknown methods.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from functools import cached_property
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from typing import Any

from bot.testing.callbacks import CallbackMethods
from bot.testing.changes import ChangeMethods
from bot.testing.faults import FaultMethods
from bot.testing.flood import FloodControl, FloodLimits
from bot.testing.incoming import IncomingMethods
from bot.testing.media import MediaMethods
from bot.testing.members import MemberMethods
from bot.testing.menus import MenuMethods
from bot.testing.methods import ChatMethods
from bot.testing.model import (
    DEFAULT_TOKEN,
    ApiCall,
    ApiError,
    DropConnection,
    JSONDict,
    SentMessage,
    State,
)
from bot.testing.reactions import ReactionMethods
from bot.testing.server import handler_for
from bot.testing.topics import TopicMethods
from bot.testing.webhook import WebhookMethods


class _Server(ThreadingHTTPServer):
    request_queue_size = 1024

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that goes away with its keep-alive connection open is no error of ours.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeTelegram(
    IncomingMethods,
    MemberMethods,
    TopicMethods,
    ChatMethods,
    MenuMethods,
    MediaMethods,
    ChangeMethods,
    CallbackMethods,
    ReactionMethods,
    WebhookMethods,
    FaultMethods,
):
    """The emulator. Thread-safe; start it with `start()` or a `with` block."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        username: str = "notify_demo_bot",
        first_name: str = "Notify Bot",
        host: str = "127.0.0.1",
        port: int = 0,
        latency: float = 0.0,
        limits: FloodLimits | None = None,
    ) -> None:
        self.token = token
        self.bot_user: JSONDict = {
            "id": int(token.split(":", 1)[0]),
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.latency = latency
        # Called (on a server thread) with each message the bot sends; the demo prints them.
        self.on_sent: Callable[[SentMessage], None] | None = None
        # Called with a message of the bot's as it stands after an edit (under the emulator's
        # lock: print, do not wait), and with (chat id, message id) of one deleted.
        self.on_edited: Callable[[SentMessage], None] | None = None
        self.on_deleted: Callable[[int, int], None] | None = None
        self.flood = FloodControl(limits) if limits else None
        self.rate_limited = 0  # how many 429s the flood limits answered
        self.conflicts = 0  # how many getUpdates were answered 409
        self._state = State()
        self._changed = threading.Condition()
        self._closing = False
        self.offline = False  # see go_offline
        self._server = self._listen(host, port)
        self._thread: threading.Thread | None = None
        self._webhook_thread: threading.Thread | None = None
        self._webhook_target: str | None = None

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What to pass as python-telegram-bot's `base_url` (TELEGRAM_BASE_URL)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/bot"

    def start(self) -> FakeTelegram:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                args=(0.05,),
                name="fake-telegram",
                daemon=True,
            )
            self._thread.start()
        return self

    def _listen(self, host: str, port: int) -> ThreadingHTTPServer:
        # The stdlib's listen backlog of 5 drops connections when a bot opens dozens at once.
        server = _Server((host, port), handler_for(self))
        server.daemon_threads = True
        return server

    def go_offline(self) -> None:
        """Telegram becomes unreachable: the port stops listening (connections are refused),
        and requests on connections already open are dropped unanswered, until `come_back`."""
        with self._changed:
            self.offline = True
            self._changed.notify_all()  # long polls in progress end without an answer
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def come_back(self) -> None:
        """Telegram is reachable again, on the same address."""
        host, port = self._server.server_address[:2]
        self._server = self._listen(str(host), int(port))
        with self._changed:
            self.offline = False
        self.start()

    def stop(self) -> None:
        with self._changed:
            self._closing = True
            self._changed.notify_all()
        if self._webhook_thread is not None:
            self._webhook_thread.join(timeout=5)
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def limits(self) -> FloodLimits | None:
        """The flood limits in force, None when none are."""
        return self.flood.limits if self.flood else None

    def set_limits(self, limits: FloodLimits | None) -> None:
        """Start (or stop, with None) enforcing Telegram's flood limits on what the bot sends."""
        with self._changed:
            self.flood = FloodControl(limits) if limits else None

    # -- what the bot did ----------------------------------------------------------------

    @property
    def sent(self) -> list[SentMessage]:
        """The bot's messages as the chats show them: edits applied, none deleted."""
        with self._changed:
            return list(self._state.sent)

    @property
    def calls(self) -> list[ApiCall]:
        with self._changed:
            return list(self._state.calls)

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    def pending_updates(self) -> int:
        """Updates the bot has not confirmed yet."""
        with self._changed:
            return len(self._state.updates)

    def wait_for_sent(
        self,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        chat_id: int | None = None,
        count: int = 1,
        timeout: float = 10.0,
    ) -> list[SentMessage]:
        """Block until `count` sent messages match (as they stand now: edited ones as edited,
        deleted ones not at all); returns them, or raises TimeoutError."""

        def matches(message: SentMessage) -> bool:
            if chat_id is not None and message.chat_id != chat_id:
                return False
            return predicate is None or predicate(message)

        found: list[SentMessage] = []
        seen, rewrites = 0, -1

        def enough() -> bool:
            # Woken by every call: looking only at what is new keeps a wait over thousands of
            # messages from eating the CPU the server threads need (the bench's bursts).
            nonlocal found, seen, rewrites
            sent = self._state.sent
            # An edit or a deletion changed what was looked at already: look again.
            if self._state.rewrites != rewrites:
                rewrites, seen, found = self._state.rewrites, 0, []
            found.extend(m for m in sent[seen:] if matches(m))
            seen = len(sent)
            return len(found) >= count

        with self._changed:
            if not self._changed.wait_for(enough, timeout):
                raise TimeoutError(
                    f"expected {count} sent message(s), saw {len(found)}; "
                    f"all sent: {[(m.chat_id, m.text[:40]) for m in self._state.sent]}"
                )
        return found[:count]

    def wait_for_call(self, method: str, *, count: int = 1, timeout: float = 10.0) -> None:
        """Block until the bot has called `method` at least `count` times."""
        with self._changed:
            if not self._changed.wait_for(
                lambda: sum(c.method == method for c in self._state.calls) >= count, timeout
            ):
                raise TimeoutError(f"the bot did not call {method} {count} time(s)")

    # -- the API itself (called from the server's threads) -----------------------------------

    def handle(
        self,
        token: str | None,
        method: str | None,
        params: JSONDict,
        client_gone: Callable[[], bool] = lambda: False,
    ) -> Any:
        """Answer one API call: the `result` on success, or raise ApiError.

        A hung request whose client gave up meanwhile is dropped unprocessed (`client_gone`),
        as a request stuck before reaching Telegram's servers would be.
        """
        if self.offline:
            raise DropConnection
        if token is None or method is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "Not Found")
        if token != self.token:
            raise ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized")
        with self._changed:
            self._state.calls.append(ApiCall(method, params, time.time()))
            self._changed.notify_all()
            scripted = self._next_script(method)
        if self.latency:
            time.sleep(self.latency)
        if self.offline:
            raise DropConnection
        if scripted is not None:
            if scripted.drop:
                raise DropConnection
            if scripted.error is not None:
                raise scripted.error
            time.sleep(scripted.hang)
            if client_gone():
                raise DropConnection
        handler = self._handlers.get(method.lower())
        if handler is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "Not Found")
        return handler(params)

    @cached_property
    def _handlers(self) -> dict[str, Callable[[JSONDict], Any]]:
        # Made once: the bench sends thousands of requests a second through here.
        return {
            "getme": lambda _p: self.bot_user,
            "logout": lambda _p: True,
            "close": lambda _p: True,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "senddocument": self._send_document,
            "editmessagetext": self._edit_message_text,
            "editmessagecaption": self._edit_message_caption,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "deletemessage": self._delete_message,
            "answercallbackquery": self._answer_callback_query,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
            "getchatmember": self._get_chat_member,
            "deleteforumtopic": self._delete_forum_topic,
            "setmessagereaction": self._set_message_reaction,
        }
