"""The emulator's HTTP side: routes `POST /bot<token>/<method>` to the emulator, decodes form and
JSON parameters as Telegram does, and writes Telegram-shaped JSON answers."""

from __future__ import annotations

import json
import select
import socket
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from bot.testing.flood import mark_arrival
from bot.testing.model import ApiError, DropConnection, JSONDict


class Api(Protocol):
    def handle(
        self,
        token: str | None,
        method: str | None,
        params: JSONDict,
        client_gone: Any = ...,
    ) -> Any: ...


def handler_for(telegram: Api) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as Telegram's servers do
        # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and
        # delayed ACKs hold every answer back ~40 ms.
        disable_nagle_algorithm = True

        def parse_request(self) -> bool:
            mark_arrival()  # the request line has just been read
            return super().parse_request()

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
