"""TELEGRAM_PROXY read: the proxy's address and its credentials, kept apart."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import quote, unquote, urlsplit

HTTP_SCHEMES = frozenset({"http"})
SOCKS_SCHEMES = frozenset({"socks5"})
SCHEMES = HTTP_SCHEMES | SOCKS_SCHEMES
SOCKS_PACKAGE = "aiohttp_socks"  # socks5:// needs it: the [socks] extra


@dataclass(frozen=True)
class Proxy:
    """A proxy for the Bot API. `address` never holds the credentials: it is what may be
    logged or shown; `url` has them, for aiohttp (http) and they go to the connector (socks5);
    the repr leaves them out."""

    scheme: str
    host: str
    port: int
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    @property
    def address(self) -> str:
        """scheme://host:port, without the credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def socks(self) -> bool:
        """Whether it is a socks5 proxy (aiohttp-socks' connector), not an http one."""
        return self.scheme in SOCKS_SCHEMES

    @property
    def url(self) -> str:
        """The URL with its credentials, for aiohttp (which sends them as Proxy-Authorization,
        in the CONNECT of an https:// request and with a plain http:// one). Never log it."""
        if self.username is None and self.password is None:
            return self.address
        user = quote(self.username or "", safe="")
        password = f":{quote(self.password, safe='')}" if self.password is not None else ""
        return self.address.replace("://", f"://{user}{password}@", 1)

    def hide(self, text: str) -> str:
        """`text` without the proxy's password (an error message: the backstop)."""
        if not self.password:
            return text
        for form in {self.password, quote(self.password, safe="")}:
            text = text.replace(form, "[REDACTED]")
        return text


def parse_proxy(url: str) -> Proxy:
    """TELEGRAM_PROXY as a Proxy; ValueError never echoing the URL (it may hold a password)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError("must be an http:// or socks5:// URL, e.g. socks5://user:pass@host:1080")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("the port must be a number from 1 to 65535") from None
    if not parts.hostname or not port:
        raise ValueError("must name the proxy's host and port, e.g. http://proxy.example:3128")
    if parts.path not in {"", "/"} or parts.query or parts.fragment:
        raise ValueError("must be scheme://[user:password@]host:port, with nothing after it")
    return Proxy(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
