"""TELEGRAM_PROXY on the aiohttp side: the connector and per-request options that send every
request to Telegram (python-telegram-bot's and the sender's) through it. An http:// proxy is
aiohttp's own; socks5:// is aiohttp-socks' connector (the `notify-bot[socks]` extra)."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from telegram import Bot
from telegram.request import HTTPXRequest

from bot.config.proxy import Proxy


def _socks_errors() -> tuple[type[Exception], ...]:
    try:
        from aiohttp_socks import (  # noqa: PLC0415 - the [socks] extra, if installed
            ProxyConnectionError,
            ProxyError,
            ProxyTimeoutError,
        )
    except ImportError:
        return ()
    return (ProxyConnectionError, ProxyError, ProxyTimeoutError)


# What a socks proxy raises when it cannot be reached or refuses (not aiohttp's errors): the
# request never reached Telegram. Empty without aiohttp-socks: `except ()` catches nothing.
SOCKS_ERRORS = _socks_errors()


def request_options(proxy: Proxy | None) -> dict[str, Any]:
    """What each aiohttp request takes: an http proxy's URL, credentials in it (aiohttp turns
    them into Proxy-Authorization: on the CONNECT for https://, on the request for http://;
    its `proxy_auth` is deprecated since 3.14 and `proxy_headers` miss plain http://); nothing
    for none or a socks proxy (the connector's)."""
    if proxy is None or proxy.socks:
        return {}
    return {"proxy": proxy.url}


def connector(proxy: Proxy | None, limit: int) -> aiohttp.TCPConnector:
    """A connector of at most `limit` connections: through a socks proxy, else plain (an http
    proxy is named per request: `request_options`)."""
    if proxy is None or not proxy.socks:
        return aiohttp.TCPConnector(limit=limit)
    from aiohttp_socks import ProxyConnector, ProxyType  # noqa: PLC0415 - the [socks] extra

    return ProxyConnector(
        host=proxy.host,
        port=proxy.port,
        proxy_type=ProxyType.SOCKS5,
        username=proxy.username,
        password=proxy.password,
        rdns=True,  # the proxy resolves api.telegram.org: it may be the only one that can
        limit=limit,
    )


def aiohttp_transport(proxy: Proxy | None, connections: int) -> AiohttpTransport:
    """python-telegram-bot's httpx transport on aiohttp, through `proxy` if there is one: on a
    session of ours whose default proxy it is (the transport's own `proxy` would pass the
    credentials as the deprecated `proxy_auth`)."""
    limits = httpx.Limits(max_connections=connections)
    if proxy is None:
        return AiohttpTransport(limits=limits)

    # Called on first use: a ClientSession belongs to the event loop it was made in.
    def session() -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=connector(proxy, connections), **request_options(proxy)
        )

    return AiohttpTransport(limits=limits, client=session)


def one_off_bot(token: str, base_url: str, proxy: Proxy | None) -> Bot:
    """A python-telegram-bot Bot for a command's few calls (`check`, `links`), through `proxy`
    like the running bot's."""
    if proxy is None:
        return Bot(token, base_url=base_url)
    request = HTTPXRequest(httpx_kwargs={"transport": aiohttp_transport(proxy, 4)})
    return Bot(token, base_url=base_url, request=request, get_updates_request=request)
