"""`python -m bot demo`: the whole story, offline, in one process, printed as a transcript.

An embedded Redis-compatible server (fakeredis), or the empty database given with --redis-url
(never REDIS_URL: that names the user's real one), the Bot API emulator from bot.testing, and
the real bot against both.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO
from urllib.parse import parse_qs, urlsplit
from uuid import uuid4

import redis
import redis.asyncio

from bot import app, runtime
from bot.config.settings import Settings
from bot.publisher import AsyncPublisher, Button
from bot.store.client import async_client
from bot.store.deadletters import DeadLetter, DeadLetterStore
from bot.store.feedback import ABOUT_PREFIX
from bot.testing import FakeTelegram, SentMessage
from bot.tools.console import Console
from bot.tools.scratch import scratch_redis

USER_ID, CHAT_ID, ADMIN_ID = 42, 4242, 777
GERMAN_ID, GERMAN_CHAT = 43, 4343  # a second user, whose Telegram app is in German
ORDER = "Your order is on its way!"
SHIPPED = '<b>Order #17</b> has shipped. <a href="https://shop.example/t/17">Track it</a>'
SHIPPED_BUTTONS = [
    [Button.url("Track parcel", "https://shop.example/t/17")],
    [Button.action("Received it", "order-17:received")],
]

# The demo's one template (TEMPLATES_DIR holds a TOML file per template, a table per language),
# written to a directory of the demo's own.
TEMPLATE_NAME = "order_ready"
TEMPLATE = """\
format = "html"

[en]
message = "<b>Order {{ order }}</b> is ready on {{ day | date }}: {{ total | currency }} to pay"
buttons = [[{ text = "Opening hours", url = "https://shop.example/hours" }]]

[de]
message = "<b>Bestellung {{ order }}</b> liegt am {{ day | date }} bereit: {{ total | currency }}"
buttons = [[{ text = "Öffnungszeiten", url = "https://shop.example/hours" }]]
"""
TEMPLATE_DATA = {"order": 19, "day": "2026-12-23", "total": 1234.5}

REAL_SETUP = """\
Now for real:
  1. Create a bot with @BotFather in Telegram and copy its token.
  2. export BOT_TOKEN=<token> REDIS_URL=redis://localhost:6379/0 ADMIN_IDS=<your user id>
  3. python -m bot          (logs bot_ready once it polls Telegram and listens)
  4. python -m bot link 42  (open the link in Telegram), then publish from your web app.
See docs/ (README.md links into it) for every setting and for deploying it."""


class Transcript:
    """Prints who said what, with the time since the demo started."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.out = out  # the console of --interactive prints there too
        self._started = time.monotonic()

    def say(self, who: str, text: str) -> None:
        lines = text.splitlines() or [""]
        prefix = f"{time.monotonic() - self._started:6.2f}s  {who:<14}"
        print(f"{prefix}{lines[0]}", file=self._out)
        for line in lines[1:]:
            print(f"{'':<{len(prefix)}}{line}", file=self._out)
        self._out.flush()

    def note(self, text: str) -> None:
        print(text, file=self._out, flush=True)


async def run_demo(redis_url: str | None, *, interactive: bool, out: TextIO = sys.stdout) -> int:
    """Play the demo against the embedded Redis, or the empty database at `redis_url` (which
    gets back no key of the demo's, and whose server's other clients hear nothing of it)."""
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(scratch_redis(redis_url, "demo"))
        telegram = stack.enter_context(FakeTelegram())
        transcript = Transcript(out)
        templates = _templates_dir(stack)
        where = "embedded fakeredis" if redis_url is None else "from --redis-url, emptied after"
        # Pub/sub ignores the database number: on a shared server, a channel of its own.
        channel = "notification" if redis_url is None else f"notification-demo-{uuid4().hex[:8]}"
        transcript.note(
            "Notify Bot demo: everything runs here, offline.\n"
            f"  Redis:        {url}  ({where})\n"
            f"  Telegram:     Bot API emulator at {telegram.base_url}\n"
            "  The real bot runs against both.\n"
        )
        settings = Settings(
            _env_file=None,
            bot_token=telegram.token,
            telegram_base_url=telegram.base_url,
            redis_url=url,
            notification_channel=channel,
            notification_stream=f"{channel}-stream",
            receipt_channel=f"{channel}:receipts",
            admin_ids=frozenset({ADMIN_ID}),
            templates_dir=templates,
            feedback_stream=f"{channel}:feedback",
            remind_min_seconds=DEMO_REMIND_EVERY,  # a reminder in seconds, not minutes
            log_level="WARNING",
            log_format="console",
        )
        telegram.add_chat(ADMIN_ID)
        stop, ready = asyncio.Event(), asyncio.Event()
        bot = app.build(settings)
        bot_task = asyncio.create_task(runtime.serve(bot, stop, ready))
        try:
            await asyncio.wait_for(ready.wait(), 15)
            await _story(bot, telegram, transcript)
            if interactive:
                await _interactive(telegram, settings, transcript)
        finally:
            stop.set()
            await asyncio.wait_for(bot_task, 15)
        transcript.note("\n" + REAL_SETUP)
    return 0


async def _story(bot: app.Bot, telegram: FakeTelegram, transcript: Transcript) -> None:
    settings = bot.settings
    client = async_client(settings.redis_url)
    async with client:
        link = await AsyncPublisher(client).create_link(USER_ID)
        transcript.say("web app", f"shows user {USER_ID} a deep link: {link}")
        token = parse_qs(urlsplit(link).query)["start"][0]

        text = f"/start {token}"
        transcript.say("Ada (user 42)", f"taps it; Telegram sends the bot: {text[:16]}...")
        reply = await _exchange(telegram, CHAT_ID, text, first_name="Ada")
        transcript.say("bot -> Ada", reply.text)

        code = (
            f'redis.Redis.from_url(url).publish("{settings.notification_channel}", '
            'json.dumps({"user_id": 42, "message": "Your order is on its way!"}))'
        )
        transcript.say("web app", code)
        published_at = time.time()
        receivers = await asyncio.to_thread(
            _blog_publish, settings.redis_url, settings.notification_channel, ORDER
        )
        [delivered] = await asyncio.to_thread(
            telegram.wait_for_sent, lambda m: m.text == ORDER, chat_id=CHAT_ID
        )
        transcript.say("", f"-> {receivers} receiver (the bot)")
        latency_ms = (delivered.at - published_at) * 1000
        transcript.say("bot -> Ada", f"{delivered.text}   [{latency_ms:.0f} ms after publish]")

        await _buttons(client, settings, telegram, transcript)
        await _edits(client, settings, telegram, transcript)
        await _templates(client, settings, telegram, transcript)
        await _talk_back(client, settings, telegram, transcript)

        bad = '{"user_id": "42", "text": "typo in the field name"}'
        transcript.say("web app", f"publishes an invalid payload: {bad}")
        dead_letters = DeadLetterStore(
            client, settings.deadletter_maxlen, settings.deadletter_max_payload_bytes
        )
        await asyncio.to_thread(
            _raw_publish, settings.redis_url, settings.notification_channel, bad
        )
        letter = await _first_dead_letter(dead_letters)
        transcript.say("bot", f"rejects it, nothing sent: {letter.reason}")
        transcript.say("", "(logged as notification_invalid, counted, kept as a dead letter)")

        await _settled(bot)
        transcript.say("admin (777)", "/stats")
        stats = await _exchange(telegram, ADMIN_ID, "/stats", first_name="Admin")
        transcript.say("bot -> admin", stats.text)


async def _buttons(
    client: redis.asyncio.Redis, settings: Settings, telegram: FakeTelegram, transcript: Transcript
) -> None:
    """A formatted notification with a URL button and an action button; Ada taps the action,
    and the web app reads the event."""
    publisher = AsyncPublisher(
        client,
        settings.notification_channel,
        stream=settings.notification_stream,
        actions_stream=settings.actions_stream,
    )
    transcript.say(
        "web app",
        f"publisher.publish(42, '{SHIPPED}', format=\"html\", buttons=[\n"
        '    [Button.url("Track parcel", "https://shop.example/t/17")],\n'
        '    [Button.action("Received it", "order-17:received")]], id="order-17")',
    )
    await publisher.publish(USER_ID, SHIPPED, id="order-17", format="html", buttons=SHIPPED_BUTTONS)
    [shown] = await asyncio.to_thread(
        telegram.wait_for_sent, lambda m: bool(m.buttons), chat_id=CHAT_ID
    )
    transcript.say("bot -> Ada", f"{shown.text}\n{_described(shown)}")
    transcript.say("Ada (user 42)", "taps [Received it]")
    query = telegram.tap(CHAT_ID, shown.message_id, button="Received it")
    answer = await asyncio.to_thread(telegram.wait_for_answer, query)
    transcript.say("bot -> Ada", f"(a toast) {answer.get('text')}")
    async with contextlib.aclosing(publisher.actions("demo", stop_after=10)) as events:
        async for event in events:
            transcript.say(
                "web app",
                f'for event in publisher.actions("shop"): -> {event.action!r} from user '
                f"{event.user_id} (notification {event.id}, message {event.message_id})",
            )
            break


DEMO_REMIND_EVERY = 2  # seconds: REMIND_MIN_SECONDS is 60 in production


async def _talk_back(
    client: redis.asyncio.Redis, settings: Settings, telegram: FakeTelegram, transcript: Transcript
) -> None:
    """A question Ada answers in words, and a notification reminded until she reacts: the web
    app reads both on the feedback stream."""
    publisher = AsyncPublisher(
        client,
        settings.notification_channel,
        stream=settings.notification_stream,
        feedback_stream=settings.feedback_stream,
        remind_min_seconds=DEMO_REMIND_EVERY,
    )
    question = "Where should we leave order #20?"
    transcript.say(
        "web app", f'publisher.publish(42, "{question}", id="order-20", reply="At the door?")'
    )
    await publisher.publish(USER_ID, question, id="order-20", reply="At the door?")
    [asked] = await asyncio.to_thread(
        telegram.wait_for_sent, lambda m: m.text == question, chat_id=CHAT_ID
    )
    transcript.say("bot -> Ada", f"{asked.text}\n  (a reply field opens: {asked.placeholder!r})")
    await _noted(client, asked)
    transcript.say("Ada (user 42)", "answers: In the garage, please")
    telegram.user_says(
        CHAT_ID, "In the garage, please", first_name="Ada", reply_to=asked.message_id
    )
    reminded = f"Table for 8 tonight at 19:00: still coming? (reminded every {DEMO_REMIND_EVERY} s)"
    async with contextlib.aclosing(publisher.feedback("demo", stop_after=30)) as events:
        async for event in events:
            transcript.say(
                "web app",
                f'for event in publisher.feedback("shop"): -> {event.type} from user '
                f"{event.user_id} to {event.id}: {event.text!r}",
            )
            transcript.say(
                "web app",
                f'publisher.publish(42, "{reminded}", id="table-8", '
                f"remind=({DEMO_REMIND_EVERY}, 3))",
            )
            await publisher.publish(USER_ID, reminded, id="table-8", remind=(DEMO_REMIND_EVERY, 3))
            first, again = await asyncio.to_thread(
                telegram.wait_for_sent, lambda m: m.text == reminded, chat_id=CHAT_ID, count=2
            )
            transcript.say("bot -> Ada", f"message {first.message_id}: {first.text}")
            transcript.say(
                "bot -> Ada",
                f"message {again.message_id}, a reply to {again.reply_to}: the same again "
                "(nobody reacted)",
            )
            await _noted(client, again)
            transcript.say("Ada (user 42)", "reacts 👍 to it")
            telegram.react(CHAT_ID, CHAT_ID, again.message_id, emoji=["👍"])
            break
        async for event in events:
            transcript.say(
                "web app",
                f"-> {event.type} from user {event.user_id} to {event.id}: added "
                f"{list(event.added)}; the reminders stop (acknowledged)",
            )
            break


async def _noted(client: redis.asyncio.Redis, message: SentMessage) -> None:
    """Wait until the bot noted `message` as its notification's (its send settled): a person
    answers later than the demo does."""
    key = f"{ABOUT_PREFIX}{message.chat_id}:{message.message_id}"
    for _ in range(500):
        if await client.exists(key):
            return
        await asyncio.sleep(0.01)


# A wait this long before a send is the chat's pace, which the transcript explains.
PACED_AFTER = 1.0


async def _edits(
    client: redis.asyncio.Redis, settings: Settings, telegram: FakeTelegram, transcript: Transcript
) -> None:
    """One notification updated in place: the same message, edited twice (order-17 is taken:
    an id is delivered once)."""
    publisher = AsyncPublisher(
        client, settings.notification_channel, stream=settings.notification_stream
    )
    transcript.say("web app", 'publisher.publish(42, "Order #18: packed", id="order-18")')
    published = time.monotonic()
    await publisher.publish(USER_ID, "Order #18: packed", id="order-18")
    [shown] = await asyncio.to_thread(
        telegram.wait_for_sent, lambda m: m.text == "Order #18: packed", chat_id=CHAT_ID
    )
    waited = time.monotonic() - published
    transcript.say("bot -> Ada", f"message {shown.message_id}: {shown.text}")
    if waited >= PACED_AFTER:
        transcript.say(
            "",
            f"(it waited {waited:.1f} s for Ada's chat: the bot sends one chat at most 3 "
            "messages in any 3 seconds, Telegram's pace of about one a second, rather than be "
            "told to slow down)",
        )
    for step in ("shipped", "delivered"):
        text = f"Order #18: {step}"
        transcript.say("web app", f'publisher.edit("order-18", 42, "{text}")')
        await publisher.edit("order-18", USER_ID, text)
        await asyncio.to_thread(_wait_until_reads, telegram, shown.message_id, text)
        edits = [m for m in telegram.edits if m.message_id == shown.message_id]
        transcript.say(
            "bot -> Ada",
            f"message {shown.message_id} now reads: {text}   [edit {len(edits)}, same message]",
        )


def _templates_dir(stack: contextlib.ExitStack) -> Path:
    """A directory of the demo's own (deleted at the end) holding its one template."""
    directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="notify-bot-demo-")))
    (directory / f"{TEMPLATE_NAME}.toml").write_text(TEMPLATE, encoding="utf-8")
    return directory


async def _templates(
    client: redis.asyncio.Redis, settings: Settings, telegram: FakeTelegram, transcript: Transcript
) -> None:
    """One template reaches an English and a German reader: a second user links a chat from
    a Telegram app in German, and each chat shows the template in its reader's language."""
    assert settings.templates_dir is not None  # noqa: S101 - run_demo sets it
    messages = [line for line in TEMPLATE.splitlines() if line.startswith("message")]
    transcript.say(
        "operator",
        f"TEMPLATES_DIR={settings.templates_dir} (the demo's own, deleted at the end) holds "
        f"{TEMPLATE_NAME}.toml, a table per language:\n"
        + "\n".join(
            f"  [{language}] {line}" for language, line in zip(("en", "de"), messages, strict=True)
        ),
    )
    link = await AsyncPublisher(client).create_link(GERMAN_ID)
    token = parse_qs(urlsplit(link).query)["start"][0]
    transcript.say(
        f"Jonas ({GERMAN_ID})",
        f"taps the deep link for user {GERMAN_ID}; his Telegram app is in German "
        "(language_code de)",
    )
    reply = await _exchange(
        telegram, GERMAN_CHAT, f"/start {token}", first_name="Jonas", language_code="de"
    )
    transcript.say("bot -> Jonas", reply.text)
    published = time.monotonic()
    for user_id in (USER_ID, GERMAN_ID):
        payload = {"user_id": user_id, "template": TEMPLATE_NAME, "data": TEMPLATE_DATA}
        transcript.say("web app", f"publishes {json.dumps(payload, ensure_ascii=False)}")
        await asyncio.to_thread(
            _raw_publish, settings.redis_url, settings.notification_channel, json.dumps(payload)
        )
    # Jonas's chat first: Ada's may wait for its pace (see _edits).
    for chat_id, name in ((GERMAN_CHAT, "Jonas"), (CHAT_ID, "Ada")):
        [message] = await asyncio.to_thread(
            telegram.wait_for_sent, lambda m: "19" in m.text, chat_id=chat_id
        )
        transcript.say(f"bot -> {name}", f"{message.text}\n{_described(message)}")
    waited = time.monotonic() - published
    if waited >= PACED_AFTER:
        transcript.say("", f"(Ada's waited {waited:.1f} s for her chat's pace, as before)")
    transcript.say(
        "",
        "(one template file, each reader's language: its text and buttons, and the date "
        "and the amount as that language writes them)",
    )


def _wait_until_reads(telegram: FakeTelegram, message_id: int, text: str) -> None:
    """Block until Ada's message `message_id` shows `text` (sent messages as they stand now)."""
    telegram.wait_for_sent(lambda m: m.message_id == message_id and m.text == text, chat_id=CHAT_ID)


def _described(message: SentMessage) -> str:
    """The entities and buttons of a sent message, as the chat shows them."""
    units = message.text.encode("utf-16-le")
    shown = []
    for entity in message.entities:
        start, end = 2 * entity["offset"], 2 * (entity["offset"] + entity["length"])
        target = f" -> {entity['url']}" if "url" in entity else ""
        shown.append(f"{entity['type']}: {units[start:end].decode('utf-16-le')!r}{target}")
    buttons = [
        f"[{button['text']}{' -> ' + button['url'] if 'url' in button else ''}]"
        for row in message.buttons
        for button in row
    ]
    return f"({', '.join(shown)})\nbuttons: {' '.join(buttons)}"


async def _interactive(telegram: FakeTelegram, settings: Settings, transcript: Transcript) -> None:
    console = Console(telegram, transcript.out, user=(CHAT_ID, "Ada"))
    console.attach()
    lines = _stdin_lines()  # Ctrl-C is ours from here on: before the prompt invites it
    transcript.note(
        "\nInteractive: you are Ada; type a message (e.g. /help, /settings) and press Enter, "
        "'tap 1' to press a button, 'help' for the console's commands (groups, channels, "
        "other users); Ctrl-D or Ctrl-C ends.\nFrom a second terminal, publish to Ada:\n"
        f"  REDIS_URL={settings.redis_url} NOTIFICATION_CHANNEL={settings.notification_channel} "
        f"NOTIFICATION_STREAM={settings.notification_stream} "
        f"{sys.executable} -m bot publish {USER_ID} 'Hello from the shell'\n"
    )
    try:
        while (line := await lines.get()) is not None:
            sent = telegram.sent
            chat = console.handle(line)
            if chat is not None:
                # Wait for the reply (the console prints it) before reading on, as in a chat.
                before = len([m for m in sent if m.chat_id == chat])
                with contextlib.suppress(TimeoutError):
                    await asyncio.to_thread(telegram.wait_for_sent, chat_id=chat, count=before + 1)
    finally:
        asyncio.get_running_loop().remove_reader(sys.stdin.fileno())
        asyncio.get_running_loop().remove_signal_handler(signal.SIGINT)
        console.detach()


def _stdin_lines() -> asyncio.Queue[str | None]:
    """Lines typed, read by the event loop as they come (no thread blocked in readline, which
    made Ctrl-C wait for Enter); None at end of input or on Ctrl-C."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()
    buffered = b""

    def readable() -> None:
        nonlocal buffered
        chunk = os.read(sys.stdin.fileno(), 4096)
        if not chunk:
            loop.remove_reader(sys.stdin.fileno())
            lines.put_nowait(None)
            return
        *complete, buffered = (buffered + chunk).split(b"\n")
        for line in complete:
            lines.put_nowait(line.decode("utf-8", "replace"))

    loop.add_reader(sys.stdin.fileno(), readable)
    loop.add_signal_handler(signal.SIGINT, lines.put_nowait, None)
    return lines


async def _exchange(
    telegram: FakeTelegram,
    chat_id: int,
    text: str,
    *,
    first_name: str,
    language_code: str = "en",
) -> SentMessage:
    """Send `text` as the user of `chat_id` (whose Telegram app is in `language_code`) and
    wait for the bot's reply."""
    before = len([m for m in telegram.sent if m.chat_id == chat_id])
    telegram.user_says(chat_id, text, first_name=first_name, language_code=language_code)
    replies = await asyncio.to_thread(telegram.wait_for_sent, chat_id=chat_id, count=before + 1)
    return replies[-1]


async def _settled(bot: app.Bot) -> None:
    """Wait until the bot has finished with everything it received, so /stats is final."""
    async with asyncio.timeout(10):
        while bot.dispatcher.pending:  # noqa: ASYNC110 - there is no event for "idle"
            await asyncio.sleep(0.02)


async def _first_dead_letter(store: DeadLetterStore) -> DeadLetter:
    async with asyncio.timeout(10):
        while not (letters := await store.latest(1)):  # noqa: ASYNC110 - written by the bot
            await asyncio.sleep(0.02)
    return letters[0]


def _blog_publish(url: str, channel: str, message: str) -> int:
    """The blog post's publisher code: plain redis-py, no package of ours (and a close)."""
    client = redis.Redis.from_url(url)
    try:
        return int(client.publish(channel, json.dumps({"user_id": USER_ID, "message": message})))
    finally:
        client.close()


def _raw_publish(url: str, channel: str, payload: str) -> None:
    client = redis.Redis.from_url(url)
    try:
        client.publish(channel, payload)
    finally:
        client.close()
