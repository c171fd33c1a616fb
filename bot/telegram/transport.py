"""python-telegram-bot's HTTP requests, as the bot makes them (the conversation: replies,
menus, broadcast progress, getUpdates; deliveries go through sender.py): on an aiohttp
transport, and every answer (or its absence) reported to the metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import aiohttp
from telegram.error import NetworkError, TimedOut
from telegram.request import HTTPXRequest, RequestData

from bot.config.proxy import Proxy
from bot.telegram.proxy import SOCKS_ERRORS, aiohttp_transport

if TYPE_CHECKING:
    from bot.telegram.relay import Relay


class NotConnected(NetworkError):
    """The request never reached Telegram: the connection could not be made (refused, no
    route, DNS). Unlike a timeout or a dropped connection, it cannot have been delivered."""


class ApiObserver(Protocol):
    """Who is told how each Bot API call went (the metrics)."""

    def telegram_answered(self, method: str, code: int) -> None: ...

    def telegram_unreachable(self, method: str, kind: str, error: str) -> None: ...


class ObservedRequest(HTTPXRequest):
    """An HTTPXRequest that tells `metrics` how each Bot API call went: the HTTP status Telegram
    answered with, or that it timed out or could not connect."""

    def __init__(self, metrics: ApiObserver, proxy: Proxy | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._metrics = metrics
        # What is said about a failure never holds the proxy's password (/health shows it).
        self._hide = proxy.hide if proxy is not None else str
        # On a standby in webhook mode, calls to a chat go through the leader (relay.py).
        self.relay: Relay | None = None

    async def do_request(  # noqa: PLR0917 - the signature of the method it overrides
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = HTTPXRequest.DEFAULT_NONE,
        write_timeout: object = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: object = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: object = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]  # never the URL itself: it holds the token
        relay = self.relay
        if relay is not None and request_data is not None and relay.wants(api_method, request_data):
            answer = await relay.forward(api_method, request_data)
            if answer is not None:
                return answer
        return await self.direct(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )

    async def direct(  # noqa: PLR0917 - the signature of do_request
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: object = HTTPXRequest.DEFAULT_NONE,
        write_timeout: object = HTTPXRequest.DEFAULT_NONE,
        connect_timeout: object = HTTPXRequest.DEFAULT_NONE,
        pool_timeout: object = HTTPXRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        api_method = url.rsplit("/", 1)[-1]  # never the URL itself: it holds the token
        try:
            code, payload = await super().do_request(
                url,
                method,
                request_data,
                read_timeout,  # type: ignore[arg-type]
                write_timeout,  # type: ignore[arg-type]
                connect_timeout,  # type: ignore[arg-type]
                pool_timeout,  # type: ignore[arg-type]
            )
        except TimedOut as exc:
            failed = _connection_failure(exc)
            if failed is not None:
                # It arrived as TimedOut ("took too long, maybe delivered"); say what it was.
                self._metrics.telegram_unreachable(api_method, "network", self._hide(str(failed)))
                raise failed from exc
            self._metrics.telegram_unreachable(api_method, "timeout", self._hide(exc.message))
            raise
        except NetworkError as exc:
            failed = _connection_failure(exc)
            if isinstance(failed, NotConnected):  # a socks proxy down or refusing
                self._metrics.telegram_unreachable(api_method, "network", self._hide(str(failed)))
                raise failed from exc
            self._metrics.telegram_unreachable(api_method, "network", self._hide(exc.message))
            raise
        self._metrics.telegram_answered(api_method, code)
        return code, payload


def _connection_failure(exc: BaseException) -> NetworkError | None:
    """What really happened when `exc` (a TimedOut) came from a connection that failed rather
    than a request that took too long; None for a real timeout. httpx-aiohttp 0.2 maps every
    aiohttp connection error, a refused connection or a dropped one included, to ConnectTimeout.
    """
    cause = exc.__cause__
    while cause is not None:
        if isinstance(cause, aiohttp.ClientConnectorError):
            return NotConnected(f"Could not connect: {cause.strerror or type(cause).__name__}")
        if isinstance(cause, SOCKS_ERRORS):
            return NotConnected(f"Proxy: {cause}")
        if isinstance(cause, aiohttp.ServerDisconnectedError):
            return NetworkError("Connection closed without an answer")
        if isinstance(cause, aiohttp.ServerTimeoutError | TimeoutError):
            return None
        cause = cause.__cause__
    return None


def sending_request(
    metrics: ApiObserver, connections: int, timeout: float, proxy: Proxy | None = None
) -> ObservedRequest:
    """The request object for python-telegram-bot's calls but getUpdates, on an aiohttp
    transport: httpx's own connection pool cost 1.5 ms of CPU per sendMessage here (555/s),
    aiohttp's about half that. Timeouts keep their meaning (a hung request is cut off after
    `timeout`), and aiohttp's connection errors arrive as httpx's, so python-telegram-bot still
    raises TimedOut / NetworkError. Through `proxy` (TELEGRAM_PROXY) if there is one."""
    transport = aiohttp_transport(proxy, connections)
    return ObservedRequest(
        metrics,
        proxy,
        connection_pool_size=connections,
        read_timeout=timeout,
        write_timeout=timeout,
        connect_timeout=timeout,
        pool_timeout=timeout,
        httpx_kwargs={"transport": transport},
    )


def polling_request(
    metrics: ApiObserver, poll_timeout: float, timeout: float, proxy: Proxy | None = None
) -> HTTPXRequest:
    """The request object for getUpdates: httpx's own transport, one long poll at a time; with
    a `proxy`, on aiohttp like the other requests, so that one proxy implementation (aiohttp's,
    or aiohttp-socks') carries every request to Telegram."""
    extra: dict[str, object] = {}
    if proxy is not None:
        extra["httpx_kwargs"] = {"transport": aiohttp_transport(proxy, 1)}
    return ObservedRequest(
        metrics,
        proxy,
        connection_pool_size=1,
        read_timeout=poll_timeout + timeout,
        write_timeout=timeout,
        connect_timeout=timeout,
        **extra,
    )
