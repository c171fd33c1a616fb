"""Real proxies for the tests, on the test's event loop: an HTTP proxy (CONNECT tunnels and
absolute-form requests forwarded) and a SOCKS5 proxy (RFC 1928, with RFC 1929 username and
password), each requiring credentials and keeping what went through it."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from types import TracebackType
from typing import Self
from urllib.parse import urlsplit

FORBIDDEN = b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"


class _Proxy:
    """What both proxies share: a server on a free port of 127.0.0.1 and its connections."""

    def __init__(self, username: str, password: str) -> None:
        self.username, self.password = username, password
        self.port = 0
        self.refused = 0  # connections turned away for wrong or no credentials
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self.serve(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the client went away: what a proxy sees all day
        finally:
            self._writers.discard(writer)
            writer.close()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: bytearray | None
    ) -> None:
        with contextlib.suppress(ConnectionError):
            while chunk := await reader.read(65536):
                if seen is not None:
                    seen.extend(chunk)
                writer.write(chunk)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _tunnel(
        self,
        client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
        seen: bytearray,
    ) -> None:
        self._writers.add(upstream[1])
        try:
            await asyncio.gather(
                self._pipe(client[0], upstream[1], seen), self._pipe(upstream[0], client[1], None)
            )
        finally:
            self._writers.discard(upstream[1])
            upstream[1].close()


class HttpProxy(_Proxy):
    """An HTTP proxy that asks for Basic credentials. `requests` holds each request line it
    served ("POST http://127.0.0.1:PORT/bot.../getMe", "CONNECT host:443"); `tunnelled` what
    went through its tunnels."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self.requests: list[str] = []
        self.tunnelled = bytearray()
        pair = base64.b64encode(f"{username}:{password}".encode()).decode()
        self._expected = f"Basic {pair}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _version = line.split(" ")
        fields = {}
        for header in filter(None, lines):
            name, _, value = header.partition(":")
            fields[name.strip().lower()] = value.strip()
        if fields.get("proxy-authorization") != self._expected:
            self.refused += 1
            writer.write(FORBIDDEN)
            await writer.drain()
            return
        self.requests.append(f"{method} {target}")
        if method == "CONNECT":
            host, _, port = target.rpartition(":")
            upstream = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await self._tunnel((reader, writer), upstream, self.tunnelled)
            return
        # Forwarded: one request per connection, both ways (Connection: close), so the proxy
        # never has to find where a response ends.
        url = urlsplit(target)
        body = await reader.readexactly(int(fields.get("content-length", "0")))
        kept = [
            h for h in filter(None, lines) if not h.lower().startswith(("proxy-", "connection"))
        ]
        path = url.path + (f"?{url.query}" if url.query else "")
        upstream_reader, upstream_writer = await asyncio.open_connection(url.hostname, url.port)
        self._writers.add(upstream_writer)
        try:
            request = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", ""])
            upstream_writer.write(request.encode("latin-1") + b"\r\n" + body)
            await upstream_writer.drain()
            answer = await upstream_reader.readuntil(b"\r\n\r\n")
            status, *answer_lines = answer.decode("latin-1").split("\r\n")
            answer_kept = [
                h for h in filter(None, answer_lines) if not h.lower().startswith("connection")
            ]
            writer.write(
                "\r\n".join([status, *answer_kept, "Connection: close", "", ""]).encode("latin-1")
            )
            await self._pipe(upstream_reader, writer, None)
        finally:
            self._writers.discard(upstream_writer)
            upstream_writer.close()


class Socks5Proxy(_Proxy):
    """A SOCKS5 proxy that asks for a username and password. `destinations` holds where each
    connection asked to go; `tunnelled` what the clients sent through it."""

    def __init__(self, username: str, password: str) -> None:
        super().__init__(username, password)
        self.destinations: list[tuple[str, int]] = []
        self.tunnelled = bytearray()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _version, count = await reader.readexactly(2)
        if 2 not in await reader.readexactly(count):  # 2: username and password
            writer.write(b"\x05\xff")
            self.refused += 1
            return
        writer.write(b"\x05\x02")
        _version, length = await reader.readexactly(2)
        username = (await reader.readexactly(length)).decode()
        password = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        if (username, password) != (self.username, self.password):
            writer.write(b"\x01\x01")
            self.refused += 1
            return
        writer.write(b"\x01\x00")
        _version, command, _reserved, kind = await reader.readexactly(4)
        assert command == 1, "CONNECT only"
        if kind == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif kind == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            host = socket.inet_ntop(socket.AF_INET6, await reader.readexactly(16))
        port = int.from_bytes(await reader.readexactly(2), "big")
        self.destinations.append((host, port))
        upstream = await asyncio.open_connection(host, port)
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        await writer.drain()
        await self._tunnel((reader, writer), upstream, self.tunnelled)
