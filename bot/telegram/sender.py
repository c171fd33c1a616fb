"""The delivery path's own Bot API client: the send methods on aiohttp, the JSON body built once and
only what the error policy uses read back. python-telegram-bot keeps the conversation side
(polling, webhook, commands); on the send path its request building and its parsing of each
answer into a `Message` cost as much CPU as the HTTP request itself (docs: benchmarks.md).

Errors are python-telegram-bot's exception classes, raised for the same answers as its own
request wrapper raises them (telegram/request/_baserequest.py), so one error policy
(policy.py) serves both and the emulator tests hold either way.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from http import HTTPStatus
from typing import Any

import aiohttp
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.config.proxy import Proxy
from bot.telegram.pacing import Pacer
from bot.telegram.proxy import SOCKS_ERRORS, connector, request_options
from bot.telegram.transport import ApiObserver, NotConnected

JSON = {"Content-Type": "application/json"}


class TooLate(Exception):
    """The send's turn came after its deadline: it was not sent."""


class Sender:
    """The send, edit and delete methods and getMe for the delivery path.
    Every send takes its turn at the Pacer first, like every request python-telegram-bot makes
    to a chat.

    `api_url` is python-telegram-bot's `Bot.base_url` (TELEGRAM_BASE_URL with the token put in
    as it does it). `timeout` bounds connecting (including the wait for a free connection) and
    each read, and a whole request takes at most three times it: a request that hangs is cut
    off and raises TimedOut, one that cannot connect NotConnected. Every request goes through
    `proxy` (TELEGRAM_PROXY) if there is one.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        pacer: Pacer,
        observer: ApiObserver,
        *,
        connections: int,
        timeout: float,
        proxy: Proxy | None = None,
    ) -> None:
        self._url = f"{api_url}/"
        self._proxy = proxy
        self._via = request_options(proxy)
        self._token = token
        self._pacer = pacer
        self._observer = observer
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(
            total=3 * timeout, connect=timeout, sock_connect=timeout, sock_read=timeout
        )
        self._session: aiohttp.ClientSession | None = None

    async def send(
        self,
        chat_id: int,
        method: str,
        params: dict[str, Any],
        *,
        allow_paid_broadcast: bool = False,
        rank: int = 1,
        deadline: float | None = None,
    ) -> int | None:
        """Call `method` (sendMessage, editMessageText, deleteMessage, ...) for `chat_id` with
        `params` as they are (text is sent literally: never a parse_mode) after the pacer's
        turn for `rank`; return the id of the message sent or edited (None: Telegram answered
        `true`, as deleteMessage does). Raises TooLate, unsent, if the pacer's turn came
        after `deadline` (Unix seconds)."""
        call = {"chat_id": chat_id, **params}
        if allow_paid_broadcast:
            call["allow_paid_broadcast"] = True
        body = json.dumps(call).encode()
        await self._pacer.wait_turn(chat_id, rank)
        if deadline is not None and time.time() >= deadline:
            raise TooLate
        message = await self._call(method, body)
        if message is True and not method.startswith("send"):
            return None
        if not isinstance(message, dict) or not isinstance(message.get("message_id"), int):
            raise TelegramError("Invalid server response")  # sent, maybe; nothing to tell
        return int(message["message_id"])

    async def get_me(self) -> dict[str, Any]:
        """The bot's own user: the cheapest call that proves Telegram answers this token."""
        result: dict[str, Any] = await self._call("getMe", b"{}")
        return result

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use: a ClientSession belongs to the event loop it was created in.
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=connector(self._proxy, self._connections),
                timeout=self._timeout,
            )
        return self._session

    async def _call(self, method: str, body: bytes) -> Any:
        try:
            async with self._open().post(
                self._url + method, data=body, headers=JSON, **self._via
            ) as answer:
                code, payload = answer.status, await answer.read()
        except TimeoutError as exc:
            self._observer.telegram_unreachable(method, "timeout", "Timed out")
            raise TimedOut from exc
        except aiohttp.ClientConnectorError as exc:
            error = f"Could not connect: {exc.strerror or type(exc).__name__}"
            self._observer.telegram_unreachable(method, "network", error)
            raise NotConnected(error) from exc
        except aiohttp.ServerDisconnectedError as exc:
            error = "Connection closed without an answer"
            self._observer.telegram_unreachable(method, "network", error)
            raise NetworkError(error) from exc
        except SOCKS_ERRORS as exc:  # the socks proxy is down or refused: never sent
            error = f"Proxy: {exc}"
            error = self._proxy.hide(error) if self._proxy is not None else error
            self._observer.telegram_unreachable(method, "network", error)
            raise NotConnected(error) from exc
        except aiohttp.ClientError as exc:
            # Never str(exc) as it is: some aiohttp errors carry the URL, and the URL the token.
            error = f"{type(exc).__name__}: {exc}".replace(self._token, "<token>")
            error = self._proxy.hide(error) if self._proxy is not None else error
            self._observer.telegram_unreachable(method, "network", error)
            raise NetworkError(error) from exc
        except RuntimeError as exc:  # "Session is closed": a send racing the shutdown
            self._observer.telegram_unreachable(method, "network", str(exc))
            raise NetworkError(str(exc)) from exc
        self._observer.telegram_answered(method, code)
        return _result(code, payload)


def _result(code: int, payload: bytes) -> Any:
    """The `result` of a successful answer, or the exception python-telegram-bot raises for it."""
    try:
        answer = json.loads(payload)
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        if HTTPStatus.OK <= code <= 299:
            raise TelegramError("Invalid server response")
        answer = {}
    if HTTPStatus.OK <= code <= 299:
        return answer.get("result")
    parameters = answer.get("parameters") or {}
    if parameters.get("migrate_to_chat_id"):
        raise ChatMigrated(int(parameters["migrate_to_chat_id"]))
    if parameters.get("retry_after"):
        raise RetryAfter(timedelta(seconds=float(parameters["retry_after"])))
    message = answer.get("description") or _phrase(code)
    if code == HTTPStatus.FORBIDDEN:
        raise Forbidden(message)
    if code in (HTTPStatus.NOT_FOUND, HTTPStatus.UNAUTHORIZED):
        raise InvalidToken(message)
    if code == HTTPStatus.BAD_REQUEST:
        raise BadRequest(message)
    if code == HTTPStatus.CONFLICT:
        raise Conflict(message)
    raise NetworkError(message)  # 5xx and anything unexpected: maybe transient


def _phrase(code: int) -> str:
    try:
        return f"{HTTPStatus(code).phrase} ({code})"
    except ValueError:
        return f"Unknown HTTPError ({code})"
