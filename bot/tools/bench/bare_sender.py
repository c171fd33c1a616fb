"""The floor `python -m bot bench` compares the bot against: a bare aiohttp loop that POSTs
sendMessage and reads the answer, with no Redis, no parsing and no policy. Not part of the bot.

Run by the bench as `python -m bot.tools.bench.bare_sender <concurrency>` with BOT_TOKEN and
TELEGRAM_BASE_URL set; it prints `bare_ready`, then reads one line per burst from stdin
(`<first chat id> <chats> <count> <tag> [rich]`), sends it with `<concurrency>` requests in
flight and prints `bare_done`. With `rich`, each request is the body the bot sends for the
bench's formatted notification with buttons (BARE_RICH_PARAMS: its text, entities and
keyboard, made by the bench), the tag at the end of the text.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import aiohttp


async def burst(session: aiohttp.ClientSession, url: str, concurrency: int, line: str) -> None:
    first_chat, chats, count, tag, *kind = line.split()
    numbers = iter(range(int(count)))
    rich = json.loads(os.environ["BARE_RICH_PARAMS"]) if kind == ["rich"] else None

    async def worker() -> None:
        for n in numbers:
            chat = int(first_chat) + n % int(chats)
            if rich is None:
                body = {"chat_id": chat, "text": f"bare {tag} {n}"}
            else:
                body = {"chat_id": chat, **rich, "text": f"{rich['text']} bare {tag} {n}"}
            async with session.post(url, json=body) as response:
                json.loads(await response.read())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def main(concurrency: int) -> None:
    url = f"{os.environ['TELEGRAM_BASE_URL']}{os.environ['BOT_TOKEN']}/sendMessage"
    connector = aiohttp.TCPConnector(limit=concurrency)
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=connector) as session:
        print("bare_ready", flush=True)  # noqa: T201 - the bench waits for this line
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            await burst(session, url, concurrency, line)
            print("bare_done", flush=True)  # noqa: T201


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
