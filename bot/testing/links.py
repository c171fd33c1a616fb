"""URLs as Telegram reads them: TDLib's parse_url (file URLs) and check_link (text_link
entities and URL buttons), written out here from their rules, not imported from anywhere."""

from __future__ import annotations

import re

# TDLib reads the scheme up to the first of these characters (tdutils/td/utils/HttpUrl.cpp).
_SCHEME = re.compile(r"([^:/?#@\[\]]*)://")
_TG_HOST = re.compile(r"[A-Za-z0-9_-]+")
_MAX_PORT = 65535


def url_problem(url: str) -> str | None:
    """Why TDLib's parse_url refuses `url` as an http(s) URL, None when it accepts it.

    A URL without a scheme is read as http, as Telegram does ("example.com/a.jpg")."""
    match = _SCHEME.match(url)
    rest = url
    if match:
        if match.group(1).lower() not in ("http", "https"):
            return "Unsupported URL protocol"
        rest = url[match.end() :]
    host = _host(rest)
    if host is None:
        return "Wrong port number specified in the URL"
    if not host:
        return "URL host is empty"
    if host == ".":
        return "Host is invalid"
    return None


def link_problem(url: str) -> str | None:
    """Why TDLib's check_link refuses `url` for a link (a text_link entity, a URL button):
    http(s) with a dotted host, or tg://<name>. None when it accepts it."""
    if url[:3].lower() == "tg:":
        return _tg_problem(url[3:].removeprefix("//"))
    problem = url_problem(url)
    if problem is not None:
        return problem
    host = _host(url[m.end() :] if (m := _SCHEME.match(url)) else url) or ""
    if "." not in host and not host.startswith("["):
        return "Wrong HTTP URL"
    return None


def _tg_problem(rest: str) -> str | None:
    """tg://<name>[/...]: a name of letters, digits, '_' and '-', no http inside."""
    if rest[:7].lower() in ("http://", "https:/"):
        return "Wrong tg URL"
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not host:
        return "URL host is empty"
    if not _TG_HOST.fullmatch(host):
        return "Unallowed characters in URL host"
    return None


def _host(rest: str) -> str | None:
    """The host of "[userinfo@]host[:port][/...]", None when the port is not a valid number."""
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host = authority.rpartition("@")[2]
    if ":" in host and not host.endswith("]"):
        host, _, port = host.rpartition(":")
        if not port.isdigit() or not 0 < int(port) <= _MAX_PORT:
            return None
    return host
