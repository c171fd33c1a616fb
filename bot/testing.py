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
over or a webhook is set), setWebhook/deleteWebhook/getWebhookInfo (updates are then POSTed to
the webhook with its secret header, retried until answered 2xx), sendMessage (with Telegram's
checks: unknown chat, blocked user, empty or too long text, and flood limits when `limits` is
given), setMyCommands/getMyCommands/deleteMyCommands, and scripted faults for any method: error
answers, hung requests, dropped connections.
Other methods answer 404 Not Found, as Telegram does for unknown methods.
"""

from __future__ import annotations

import json
import math
import re
import select
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bot.ratelimit import Limits, SlidingWindow
from bot.web import SECRET_HEADER

DEFAULT_TOKEN = "123456789:AAEmulatorTokenForOfflineTestsOnly_x"  # noqa: S105 - public fake
MAX_TEXT_UTF16 = 4096
MAX_POLL_SECONDS = 50  # Telegram caps long polls too
WEBHOOK_PORTS = (443, 80, 88, 8443)
WEBHOOK_RETRY_SECONDS = 0.5  # Telegram retries a failed webhook delivery, with backoff

JSONDict = dict[str, Any]


class ApiError(Exception):
    """An error answer: {"ok": false, "error_code": ..., "description": ..., "parameters": ...}."""

    def __init__(self, code: int, description: str, parameters: JSONDict | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> JSONDict:
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made: method name and its parameters (as decoded values)."""

    method: str
    params: JSONDict
    at: float


@dataclass(frozen=True)
class SentMessage:
    """A message the bot sent with sendMessage."""

    chat_id: int
    text: str
    message_id: int
    params: JSONDict
    at: float


class DropConnection(Exception):
    """Scripted fault: close the connection without an answer."""


@dataclass
class _Script:
    """What to do instead of the real answer, for the next `times` calls of a method."""

    times: int
    error: ApiError | None = None
    hang: float = 0.0  # seconds to hold the request before answering normally
    drop: bool = False


@dataclass
class _State:
    updates: list[JSONDict] = field(default_factory=list)
    next_update_id: int = 1
    next_message_id: int = 1
    poll_generation: int = 0
    calls: list[ApiCall] = field(default_factory=list)
    sent: list[SentMessage] = field(default_factory=list)
    edits: list[SentMessage] = field(default_factory=list)
    chats: dict[int, JSONDict] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    commands: dict[str, list[JSONDict]] = field(default_factory=dict)
    scripts: dict[str, list[_Script]] = field(default_factory=dict)
    webhook: JSONDict = field(default_factory=dict)  # url, secret_token, allowed_updates, ...
    webhook_errors: list[str] = field(default_factory=list)


class FakeTelegram:
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
        limits: Limits | None = None,
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
        self.limits = limits
        self.rate_limited = 0  # how many 429s the flood limits answered
        self.conflicts = 0  # how many getUpdates were answered 409
        self._state = _State()
        self._overall = limits.overall() if limits else None
        self._chat_windows: dict[int, SlidingWindow] = {}
        self._changed = threading.Condition()
        self._closing = False
        server_class = type(
            "EmulatorServer", (ThreadingHTTPServer,), {"request_queue_size": 1024}
        )  # the stdlib's listen backlog of 5 drops connections when a bot opens dozens at once
        self._server = server_class((host, port), _handler_for(self))
        self._server.daemon_threads = True
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

    # -- the user's side of the chat -----------------------------------------------------

    def user_says(
        self,
        user_id: int,
        text: str,
        *,
        first_name: str = "Test",
        username: str | None = None,
        chat: JSONDict | None = None,
    ) -> JSONDict:
        """Queue a message from a user for the bot's next getUpdates; returns the Update.

        The chat is the user's private chat unless `chat` (a Chat object) is given.
        """
        user: JSONDict = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name,
            "language_code": "en",
        }
        if username:
            user["username"] = username
        chat = chat or {"id": user_id, "type": "private", "first_name": first_name}
        with self._changed:
            state = self._state
            state.chats[chat["id"]] = chat
            state.blocked.discard(chat["id"])
            message: JSONDict = {
                "message_id": state.next_message_id,
                "from": user,
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            if text.startswith("/"):
                command = text.split(maxsplit=1)[0]
                message["entities"] = [
                    {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
                ]
            update = {"update_id": state.next_update_id, "message": message}
            state.next_message_id += 1
            state.next_update_id += 1
            state.updates.append(update)
            self._changed.notify_all()
        return update

    def set_limits(self, limits: Limits | None) -> None:
        """Start (or stop, with None) enforcing Telegram's flood limits on sendMessage."""
        with self._changed:
            self.limits = limits
            self._overall = limits.overall() if limits else None
            self._chat_windows.clear()

    def block(self, chat_id: int) -> None:
        """The user blocks the bot: sendMessage to this chat answers 403 from now on."""
        with self._changed:
            self._state.blocked.add(chat_id)

    def add_chat(self, chat_id: int, *, chat_type: str = "private") -> None:
        """Make a chat known without a message from it (Telegram knows chats that met the bot)."""
        with self._changed:
            self._state.chats.setdefault(chat_id, {"id": chat_id, "type": chat_type})

    def route_webhooks_to(self, address: str) -> None:
        """Where the registered webhook's host really is: "http://127.0.0.1:PORT".

        Telegram only calls HTTPS URLs on ports 443, 80, 88 or 8443, and setWebhook checks
        that here too. A platform's router (Heroku's, say) terminates TLS and forwards plain
        HTTP to the process; this plays that router: updates go to `address` + the URL's path.
        """
        with self._changed:
            self._webhook_target = address.rstrip("/")
            self._changed.notify_all()

    @property
    def webhook(self) -> JSONDict:
        """What the last setWebhook registered (empty when none): url, secret_token, ..."""
        with self._changed:
            return dict(self._state.webhook)

    @property
    def webhook_errors(self) -> list[str]:
        """Every failed webhook delivery, as getWebhookInfo's last_error_message put it."""
        with self._changed:
            return list(self._state.webhook_errors)

    def fail_next(
        self,
        method: str,
        code: int,
        description: str,
        *,
        parameters: JSONDict | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` calls of `method` with this error instead of the real answer."""
        self._script(method, _Script(times, error=ApiError(code, description, parameters)))

    def hang_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Hold the next `times` calls of `method` for `seconds` before answering (a hung
        request: the client should time out first). If the client has gone by then, the
        call is dropped without taking effect."""
        self._script(method, _Script(times, hang=seconds))

    def drop_next(self, method: str, *, times: int = 1) -> None:
        """Close the connection of the next `times` calls of `method` without any answer."""
        self._script(method, _Script(times, drop=True))

    def _script(self, method: str, script: _Script) -> None:
        with self._changed:
            self._state.scripts.setdefault(method, []).append(script)

    # -- what the bot did ----------------------------------------------------------------

    @property
    def sent(self) -> list[SentMessage]:
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
        """Block until `count` sent messages match; returns them, or raises TimeoutError."""

        def matches(message: SentMessage) -> bool:
            if chat_id is not None and message.chat_id != chat_id:
                return False
            return predicate is None or predicate(message)

        found: list[SentMessage] = []

        def enough() -> bool:
            nonlocal found
            found = [m for m in self._state.sent if matches(m)]
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
        if scripted is not None:
            if scripted.drop:
                raise DropConnection
            if scripted.error is not None:
                raise scripted.error
            time.sleep(scripted.hang)
            if client_gone():
                raise DropConnection
        handler = self._methods().get(method.lower())
        if handler is None:
            raise ApiError(HTTPStatus.NOT_FOUND, "Not Found")
        return handler(params)

    def _next_script(self, method: str) -> _Script | None:
        scripts = self._state.scripts.get(method)
        if not scripts:
            return None
        script = scripts[0]
        script.times -= 1
        if script.times <= 0:
            scripts.pop(0)
        return script

    def _enforce_limits(self, chat_id: int) -> None:
        """Telegram's flood control: 429 with retry_after when a window is full (caller holds
        the lock). Counted at arrival, as Telegram can only count what reaches it."""
        if self.limits is None or self._overall is None:
            return
        now = time.monotonic()
        window = self._chat_windows.get(chat_id)
        if window is None:
            window = self._chat_windows[chat_id] = self.limits.for_chat(chat_id)
        wait = max(self._overall.wait_time(now), window.wait_time(now))
        if wait > 0:
            self.rate_limited += 1
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                HTTPStatus.TOO_MANY_REQUESTS,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        self._overall.record(now)
        window.record(now)

    def _methods(self) -> dict[str, Callable[[JSONDict], Any]]:
        return {
            "getme": lambda _p: self.bot_user,
            "logout": lambda _p: True,
            "close": lambda _p: True,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "sendmessage": self._send_message,
            "editmessagetext": self._edit_message_text,
            "setmycommands": self._set_my_commands,
            "getmycommands": self._get_my_commands,
            "deletemycommands": self._delete_my_commands,
        }

    def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)  # an empty url removes the webhook
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
            )
        if (parts.port or 443) not in WEBHOOK_PORTS:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        secret = params.get("secret_token")
        if secret is not None and not _SECRET_TOKEN.fullmatch(str(secret)):
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "Bad Request: secret token contains unallowed characters"
            )
        with self._changed:
            if _truthy(params.get("drop_pending_updates")):
                self._state.updates.clear()
            self._state.webhook = {
                "url": url,
                "secret_token": None if secret is None else str(secret),
                "allowed_updates": params.get("allowed_updates"),
                "max_connections": int(params.get("max_connections") or 40),
            }
            self._state.poll_generation += 1  # a long poll in progress ends with 409
            self._changed.notify_all()
            if self._webhook_thread is None:
                self._webhook_thread = threading.Thread(
                    target=self._deliver_webhooks, name="fake-telegram-webhook", daemon=True
                )
                self._webhook_thread.start()
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        with self._changed:
            self._state.webhook = {}
            if _truthy(params.get("drop_pending_updates")):
                self._state.updates.clear()
            self._changed.notify_all()
        return True

    def _get_webhook_info(self, _params: JSONDict) -> JSONDict:
        with self._changed:
            hook = self._state.webhook
            info: JSONDict = {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._state.updates),
            }
            if hook:
                info["max_connections"] = hook["max_connections"]
                if hook.get("allowed_updates"):
                    info["allowed_updates"] = hook["allowed_updates"]
                if "last_error_date" in hook:
                    info["last_error_date"] = hook["last_error_date"]
                    info["last_error_message"] = hook["last_error_message"]
        return info

    def _deliver_webhooks(self) -> None:
        """Telegram's side of a webhook: POST each update in order, with the secret header;
        an update is confirmed by a 2xx answer and retried otherwise."""
        while True:
            with self._changed:
                while True:
                    if self._closing:
                        return
                    hook, target = self._state.webhook, self._webhook_target
                    allowed = hook.get("allowed_updates")
                    ready = [u for u in self._state.updates if _allowed(u, allowed)]
                    if hook and target and ready:
                        break
                    self._changed.wait()
                update = ready[0]
            error = _post_update(target + (urlsplit(hook["url"]).path or "/"), update, hook)
            with self._changed:
                if error is None:
                    self._state.updates = [u for u in self._state.updates if u is not update]
                    self._changed.notify_all()
                    continue
                self._state.webhook_errors.append(error)
                if self._state.webhook.get("url") == hook["url"]:
                    self._state.webhook["last_error_date"] = int(time.time())
                    self._state.webhook["last_error_message"] = error
                self._changed.wait(WEBHOOK_RETRY_SECONDS)

    def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(float(params.get("timeout") or 0), MAX_POLL_SECONDS)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + timeout
        with self._changed:
            state = self._state
            state.poll_generation += 1
            generation = state.poll_generation
            self._changed.notify_all()  # wakes an older poll, which then answers 409
            if offset:
                # An update is confirmed by asking for a higher offset.
                state.updates = [u for u in state.updates if u["update_id"] >= offset]
            while True:
                if state.webhook:
                    self.conflicts += 1
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        "Conflict: can't use getUpdates method while webhook is active; "
                        "use deleteWebhook to delete the webhook first",
                    )
                if generation != state.poll_generation:
                    self.conflicts += 1
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                ready = [u for u in state.updates if _allowed(u, allowed)]
                remaining = deadline - time.monotonic()
                if ready or remaining <= 0 or self._closing:
                    return ready[:limit]
                self._changed.wait(remaining)

    def _send_message(self, params: JSONDict) -> JSONDict:
        chat_id = _int_param(params, "chat_id")
        text = _visible_text(params)
        with self._changed:
            state = self._state
            chat = state.chats.get(chat_id)
            if chat is None:
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found")
            if chat_id in state.blocked:
                raise ApiError(HTTPStatus.FORBIDDEN, "Forbidden: bot was blocked by the user")
            self._enforce_limits(chat_id)
            message = {
                "message_id": state.next_message_id,
                "from": self.bot_user,
                "chat": chat,
                "date": int(time.time()),
                "text": text,
            }
            state.next_message_id += 1
            sent = SentMessage(chat_id, text, state.next_message_id - 1, params, time.time())
            state.sent.append(sent)
            self._changed.notify_all()
        if self.on_sent is not None:
            self.on_sent(sent)
        return message

    def _edit_message_text(self, params: JSONDict) -> JSONDict:
        chat_id = _int_param(params, "chat_id")
        message_id = int(params.get("message_id") or 0)
        text = _visible_text(params)
        with self._changed:
            state = self._state
            index = next(
                (
                    i
                    for i, m in enumerate(state.sent)
                    if m.chat_id == chat_id and m.message_id == message_id
                ),
                None,
            )
            if index is None:
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message to edit not found")
            old = state.sent[index]
            if old.text == text:
                raise ApiError(
                    HTTPStatus.BAD_REQUEST,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            state.sent[index] = SentMessage(chat_id, text, message_id, params, old.at)
            state.edits.append(state.sent[index])
            self._changed.notify_all()
            chat = state.chats[chat_id]
        return {
            "message_id": message_id,
            "from": self.bot_user,
            "chat": chat,
            "date": int(old.at),
            "edit_date": int(time.time()),
            "text": text,
        }

    @property
    def edits(self) -> list[SentMessage]:
        """Every editMessageText the bot made, in order (the message as edited)."""
        with self._changed:
            return list(self._state.edits)

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(HTTPStatus.BAD_REQUEST, 'Bad Request: parameter "commands" is required')
        scope = params.get("scope")
        with self._changed:
            scoped_chat = scope.get("chat_id") if isinstance(scope, dict) else None
            if scoped_chat is not None and int(scoped_chat) not in self._state.chats:
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found")
            self._state.commands[_scope_key(params)] = commands
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        with self._changed:
            return self._state.commands.get(_scope_key(params), [])

    def _delete_my_commands(self, params: JSONDict) -> bool:
        with self._changed:
            self._state.commands.pop(_scope_key(params), None)
        return True

    def commands_for(self, scope: JSONDict | None = None) -> list[JSONDict]:
        """The command list the bot set for `scope` (default scope when None)."""
        return self._get_my_commands({"scope": scope} if scope else {})


HTML_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "code",
    "pre",
    "blockquote",
    "tg-emoji",
}


class _HTMLText(HTMLParser):
    """The text a chat shows for parse_mode=HTML, refusing tags Telegram does not support."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, _attrs: list[tuple[str, str | None]]) -> None:
        if tag not in HTML_TAGS:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                f'Bad Request: can\'t parse entities: Unsupported start tag "{tag}"',
            )

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def _visible_text(params: JSONDict) -> str:
    """What the chat shows: the text after entity parsing, checked the way Telegram checks it."""
    text = params.get("text")
    if isinstance(text, str) and str(params.get("parse_mode", "")).upper() == "HTML":
        parser = _HTMLText()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    if not isinstance(text, str) or not text.strip():
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message text is empty")
    if _utf16_len(text) > MAX_TEXT_UTF16:
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: message is too long")
    return text


def _handler_for(telegram: FakeTelegram) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Telegram's servers do
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
        # delayed ACKs hold every answer back ~40 ms.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            self._answer()

        def do_GET(self) -> None:
            self._answer()

        def _answer(self) -> None:
            url = urlsplit(self.path)
            token, method = _route(url.path)
            try:
                params = _decode_params(self, url.query)
                result = telegram.handle(
                    token, method, params, client_gone=lambda: _closed(self.connection)
                )
                body: JSONDict = {"ok": True, "result": result}
                status = HTTPStatus.OK
            except ApiError as exc:
                body, status = exc.body(), HTTPStatus(exc.code)
            except DropConnection:
                self.close_connection = True
                return
            payload = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (e.g. a long poll cancelled at shutdown): nothing to tell.
                self.close_connection = True

        def log_message(self, format: str, *args: Any) -> None:
            # The stdlib would print every request line, token included, to stderr.
            return

    return Handler


def _closed(connection: socket.socket) -> bool:
    """True when the client closed its end (readable, and nothing to read)."""
    try:
        readable, _, _ = select.select([connection], [], [], 0)
        return bool(readable) and connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


_SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


def _post_update(url: str, update: JSONDict, hook: JSONDict) -> str | None:
    """POST one update as Telegram does; None when answered 2xx, else the error Telegram's
    getWebhookInfo would report."""
    headers = {"Content-Type": "application/json"}
    if hook.get("secret_token"):
        headers[SECRET_HEADER] = hook["secret_token"]
    request = urllib.request.Request(  # noqa: S310 - the URL is the webhook the bot registered
        url, data=json.dumps(update).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        return f"Wrong response from the webhook: {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        return f"Connection failed: {getattr(exc, 'reason', exc)}"
    return None


def _route(path: str) -> tuple[str | None, str | None]:
    """ "/bot<token>/<method>" -> (token, method)."""
    parts = path.strip("/").split("/")
    if len(parts) != 2 or not parts[0].startswith("bot"):
        return None, None
    return parts[0][3:], parts[1]


def _decode_params(request: BaseHTTPRequestHandler, query: str) -> JSONDict:
    """Parameters from the query string and a form or JSON body, JSON values decoded."""
    length = int(request.headers.get("Content-Length") or 0)
    raw = request.rfile.read(length) if length else b""
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
    params: JSONDict = {}
    pairs = parse_qsl(query)
    if content_type == "application/json" and raw:
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: can't parse JSON") from None
        if isinstance(decoded, dict):
            params.update(decoded)
    elif content_type == "multipart/form-data":
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: file uploads are not emulated")
    else:
        pairs += parse_qsl(raw.decode("utf-8", "replace"))
    for key, value in pairs:
        params[key] = _maybe_json(value)
    return params


def _maybe_json(value: str) -> Any:
    """Form values arrive as strings; python-telegram-bot JSON-encodes non-string values."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _int_param(params: JSONDict, name: str) -> int:
    value = params.get(name)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found") from None


def _truthy(value: object) -> bool:
    return value in (True, "true", "True", "1", 1)


def _allowed(update: JSONDict, allowed: object) -> bool:
    if not isinstance(allowed, list) or not allowed:
        return True
    return any(kind in update for kind in allowed)


def _scope_key(params: JSONDict) -> str:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True)


def _utf16_len(text: str) -> int:
    """Telegram measures text in UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text.encode("utf-16-le")) // 2
