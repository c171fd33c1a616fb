"""Admin commands, all behind one authorisation filter: the sender's user id is in ADMIN_IDS."""

from __future__ import annotations

import asyncio
import html
import json
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import redis.asyncio
import structlog
from redis.exceptions import RedisError
from telegram import Update
from telegram.constants import ChatType, ParseMode
from telegram.error import TelegramError
from telegram.ext import Application, CommandHandler, ContextTypes, filters

from bot.chat.admin_format import clip, duration, when
from bot.chat.arguments import Usage, int_arg
from bot.chat.broadcast import Broadcaster
from bot.chat.i18n import N_, ChosenLanguage, gettext, language_of
from bot.cluster.leader import Leadership
from bot.config.logging import redact
from bot.config.settings import Settings
from bot.formatting.entities import utf16_len
from bot.formatting.split import MAX_UTF16
from bot.notification import ADMIN, Envelope, Outcome, preview
from bot.pipeline.dispatcher import Dispatcher
from bot.sources.pubsub import RedisListener
from bot.sources.stream import StreamConsumer, pending_entries
from bot.store import counters as stats_store
from bot.store.chat_directory import ChatInfo
from bot.store.counters import Stats
from bot.store.deadletters import DeadLetterStore
from bot.store.link_tokens import deep_link
from bot.store.registry import ChatRegistry
from bot.store.schedule import ScheduleStore

log = structlog.get_logger(__name__)

# The one reply here a chat user who is not an admin gets: in their language.
REFUSAL = N_("Sorry, that command is only for the bot's admins.")
# Commands whose reply reveals a deep link or user data: answered in the admin's private chat.
PRIVATE_ONLY = frozenset({"link", "users", "whois", "deadletters"})
PRIVATE_ONLY_REPLY = "I answer that only in our private chat: it shows links or user data."
PAGE_SIZE = 20
REASON_CHARS = 160  # a dead letter's reason as /deadletters shows it
MORE = "\n({n} more not shown: /deadletters {k} shows what fits)"
SEND_WAIT = 30.0  # seconds /send waits for the outcome before answering "queued"

Answer = Callable[[Update, list[str]], Awaitable[str | None]]
Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


class AdminCommands:
    """The operator's console in Telegram. Replies are short, monospace where tabular, and
    passed through the same redaction as logs, so no token or Redis password can leak."""

    def __init__(
        self,
        settings: Settings,
        *,
        client: redis.asyncio.Redis,
        registry: ChatRegistry,
        stats: Stats,
        dispatcher: Dispatcher,
        dead_letters: DeadLetterStore,
        broadcaster: Broadcaster,
        listener: RedisListener | None,
        stream: StreamConsumer | None,
        leadership: Leadership | None = None,
        schedule: ScheduleStore | None = None,
        chosen_language: ChosenLanguage | None = None,
    ) -> None:
        self._chosen_language = chosen_language
        self._settings = settings
        self._redis = client
        self._registry = registry
        self._stats = stats
        self._dispatcher = dispatcher
        self._dead_letters = dead_letters
        self._broadcaster = broadcaster
        self._listener = listener
        self._stream = stream
        self._leadership = leadership
        self._schedule = schedule
        self._secrets = settings.secrets

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        """Add the admin handlers, guarded by one filter, and the refusal for everyone else.
        Register before the chat commands' catch-all."""
        only_admins = filters.User(user_id=self._settings.admin_ids)
        handlers: dict[str, Answer] = {
            "stats": self.stats,
            "health": self.health,
            "users": self.users,
            "whois": self.whois,
            "send": self.send,
            "broadcast": self.broadcast,
            "broadcast_cancel": self.broadcast_cancel,
            "scheduled": self.scheduled,
            "link": self.link,
            "unlink": self.unlink,
            "deadletters": self.deadletters,
            "retry": self.retry,
            "pause": self.pause,
            "resume": self.resume,
        }
        for name, answer in handlers.items():
            application.add_handler(
                CommandHandler(name, self._answering(name, answer), filters=only_admins)
            )
        application.add_handler(CommandHandler(list(handlers), self.refuse))

    async def refuse(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        text = update.effective_message.text if update.effective_message else None
        log.warning(
            "admin_refused",
            user_id=user.id if user else None,
            command=(text or "").split(maxsplit=1)[0][:40],
        )
        if update.effective_message is not None:
            language = await language_of(update, self._chosen_language)
            await update.effective_message.reply_text(gettext(language, REFUSAL))

    def _answering(self, name: str, answer: Answer) -> Handler:
        async def handle(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message = update.effective_message
            if message is None:
                return
            user_id = update.effective_user.id if update.effective_user else None
            log.info("admin_command", command=name, user_id=user_id)
            chat = update.effective_chat
            if name in PRIVATE_ONLY and (chat is None or chat.type != ChatType.PRIVATE):
                # Everyone in a group would see the link (and could redeem it) or the ids.
                await message.reply_text(PRIVATE_ONLY_REPLY)
                return
            try:
                reply = await answer(update, list(context.args or []))
            except Usage as usage:
                reply = f"Usage: {usage}"
            except RedisError as exc:
                reply = f"Redis is unavailable: {type(exc).__name__}"
            if reply is not None:
                await message.reply_text(redact(reply, self._secrets), parse_mode=ParseMode.HTML)

        return handle

    # -- the commands; each returns its HTML reply ----------------------------------------

    async def stats(self, _update: Update, _args: list[str]) -> str:
        since_start = self._stats.snapshot()
        all_time = await stats_store.all_time(self._redis)
        rows = [("", "since start", "all-time")]
        labels = {
            "received": "received",
            Outcome.SENT: "delivered",
            "dead_lettered": "dead-lettered",
        }
        for name in all_time:
            rows.append(
                (labels.get(name, name), str(since_start.get(name, 0)), str(all_time[name]))
            )
        table = "\n".join(f"{a:<14}{b:>12}{c:>10}" for a, b, c in rows)
        redis_ms = await _ping_ms(self._redis)
        users, chats = await self._registry.counts()
        lines = [
            f"up {duration(self._stats.uptime())}, {users} linked users, {chats} chats",
            f"<pre>{html.escape(table)}</pre>",
            f"send rate: {self._stats.send_rate():.1f}/s; queued: {self._dispatcher.pending}"
            + ("; PAUSED" if self._dispatcher.paused else ""),
            f"redis: ok, {redis_ms:.1f} ms; {self._sources()}",
        ]
        if self._settings.notification_stream:
            lines.append(await self._backlog())
        return "\n".join(lines)

    async def health(self, update: Update, _args: list[str]) -> str:
        lines = []
        try:
            lines.append(f"redis: ok, {await _ping_ms(self._redis):.1f} ms; {self._sources()}")
        except RedisError as exc:
            lines.append(f"redis: DOWN ({type(exc).__name__})")
        bot = update.get_bot()
        started = time.perf_counter()
        try:
            await bot.get_me()
            lines.append(f"telegram: ok, {(time.perf_counter() - started) * 1000:.0f} ms (getMe)")
        except TelegramError as exc:
            lines.append(f"telegram: DOWN ({html.escape(exc.message)})")
        return "\n".join(lines)

    async def users(self, _update: Update, args: list[str]) -> str:
        page = int_arg(args, "/users [page]", default=1)
        if page < 1:
            raise Usage("/users [page]")
        total = await self._registry.linked_count()
        rows = await self._registry.page((page - 1) * PAGE_SIZE, PAGE_SIZE)
        if not rows:
            return f"No linked users on page {page} ({total} linked)."
        pages = -(-total // PAGE_SIZE)
        table = "\n".join(
            f"{r.user_id:>10} {when(r.linked_at)}  {', '.join(map(_chat_short, r.chats))}"
            for r in rows
        )
        header = f"{'user':>10} {'linked since (UTC)':<16}  chats"
        return (
            f"Linked users, page {page} of {pages} ({total}):\n"
            f"<pre>{header}\n{html.escape(table)}</pre>"
        )

    async def whois(self, _update: Update, args: list[str]) -> str:
        user_id = int_arg(args, "/whois USER_ID")
        chats = await self._registry.described(await self._registry.chats_for(user_id))
        last = await stats_store.last_delivery(self._redis, user_id)
        if not chats:
            lines = [f"User {user_id} is not linked."]
        else:
            since = await self._registry.linked_since(user_id)
            count = "1 chat" if len(chats) == 1 else f"{len(chats)} chats"
            lines = [f"User {user_id}: {count}, linked since {when(since)} UTC:"]
            lines.extend(f"• {html.escape(_chat_long(info))}" for info in chats)
        if last is None:
            lines.append("No delivery recorded.")
        else:
            reason = f" ({html.escape(last['reason'])})" if last.get("reason") else ""
            lines.append(f"Last delivery {when(last['at'])} UTC: {last['outcome']}{reason}.")
        return "\n".join(lines)

    async def send(self, _update: Update, args: list[str]) -> str:
        if len(args) < 2:
            raise Usage("/send USER_ID TEXT")
        user_id = int_arg(args, "/send USER_ID TEXT")
        text = " ".join(args[1:])
        settled: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        payload = json.dumps({"user_id": user_id, "message": text})
        await self._dispatcher.accept(Envelope(payload, ADMIN, settled=settled))
        try:
            outcome = await asyncio.wait_for(asyncio.shield(settled), SEND_WAIT)
        except TimeoutError:
            return f"Queued for user {user_id}; not settled yet (see /whois {user_id})."
        return f"User {user_id}: {outcome.value}."

    async def broadcast(self, update: Update, args: list[str]) -> str | None:
        message = update.effective_message
        text = message.text.split(maxsplit=1)[1] if message and message.text and args else ""
        if not text.strip():
            raise Usage("/broadcast TEXT")
        chat = update.effective_chat
        assert chat is not None  # a command always comes from a chat  # noqa: S101
        if not await self._broadcaster.start(text, chat.id):
            return "A broadcast is already running: /broadcast_cancel first."
        return None  # the progress message the broadcaster sent is the answer

    async def broadcast_cancel(self, _update: Update, _args: list[str]) -> str:
        if await self._broadcaster.cancel():
            return "Cancelling the broadcast; notifications already queued still go out."
        return "No broadcast is running."

    async def scheduled(self, _update: Update, _args: list[str]) -> str:
        """What waits for its deliver_at, soonest first."""
        if self._schedule is None:
            return "Scheduling is off: it needs NOTIFICATION_STREAM."
        total, held = await self._schedule.held(SCHEDULED_SHOWN)
        if not total:
            return "Nothing is scheduled."
        lines = [f"{total} scheduled, soonest first:"]
        now = time.time()
        for item in held:
            key = "(no id)" if item.key.startswith("~") else f"id {item.key}"
            lines.append(
                f"{when(item.due)} UTC (in {duration(max(item.due - now, 0))}) · "
                f"{_scheduled_who(item.payload)} · {key}"
            )
        if total > len(held):
            lines.append(f"… and {total - len(held)} more")
        return "\n".join(lines)

    async def link(self, update: Update, args: list[str]) -> str:
        usage = "/link USER_ID [group|channel]"
        user_id = int_arg(args, usage)
        kind = args[1] if len(args) > 1 else "private"
        if kind not in ("private", "group", "channel") or len(args) > 2:
            raise Usage(usage)
        ttl = self._settings.link_ttl_seconds
        token = await self._registry.create_link_token(user_id, ttl, kind)  # type: ignore[arg-type]
        valid = f"valid {duration(ttl)}"
        if kind == "channel":
            return (
                f"Channel link for user {user_id}, {valid}: an administrator posts this in the "
                f"channel (the bot must be an administrator there):\n<code>/link {token}</code>"
            )
        url = deep_link(update.get_bot().username, token, group=kind == "group")
        what = "Group link" if kind == "group" else "Link"
        return f"{what} for user {user_id}, {valid}:\n{url}"

    async def unlink(self, _update: Update, args: list[str]) -> str:
        user_id = int_arg(args, "/unlink USER_ID")
        chats = await self._registry.unlink_user(user_id, reason="admin")
        if not chats:
            return f"User {user_id} was not linked."
        ids = [chat.chat_id for chat in chats]
        log.info("chat_unlinked", user_id=user_id, chat_ids=ids, reason="admin")
        return f"Unlinked user {user_id} ({', '.join(f'chat {i}' for i in ids)})."

    async def deadletters(self, _update: Update, args: list[str]) -> str:
        count = int_arg(args, "/deadletters [n]", default=10)
        if not 1 <= count <= 50:
            raise Usage("/deadletters [n], n from 1 to 50")
        letters = await self._dead_letters.latest(count)
        total = await self._dead_letters.count()
        if not letters:
            return "No dead letters."
        header = f"{total} dead letters, newest first:\n"
        footer = "\n/retry ID or /retry all"
        # Telegram takes 4,096 characters of text (the <pre> and escapes do not count): show
        # as many as fit, newest first, and say how many did not.
        room = MAX_UTF16 - utf16_len(header + footer) - len(MORE.format(n=50, k=50))
        lines: list[str] = []
        for letter in letters:
            line = (
                f"{letter.id}  {when(letter.failed_at)}  {clip(letter.reason, REASON_CHARS)}"
                f"{' (payload cut)' if letter.truncated else ''}\n    {preview(letter.payload)}"
            )
            if utf16_len("\n".join([*lines, line])) > room:
                break
            lines.append(line)
        if len(lines) < len(letters):
            footer = MORE.format(n=len(letters) - len(lines), k=len(lines)) + footer
        return f"{header}<pre>{html.escape(chr(10).join(lines))}</pre>{footer}"

    async def retry(self, _update: Update, args: list[str]) -> str:
        if len(args) != 1:
            raise Usage("/retry ID|all")
        stream = self._settings.notification_stream
        if not stream:
            return "Retry replays onto the stream, and NOTIFICATION_STREAM is off."
        ids = None if args[0] == "all" else [args[0]]
        try:
            done = await self._dead_letters.replay(ids, stream, self._settings.stream_maxlen)
        except RedisError as exc:
            if "Invalid stream ID" in str(exc):
                raise Usage("/retry ID|all, with an ID from /deadletters") from None
            raise
        reply = f"Requeued {done.moved} dead letter{'s' if done.moved != 1 else ''}."
        if done.truncated:
            reply += f" Kept {done.truncated} whose payload was cut to the size limit."
        return reply

    async def pause(self, _update: Update, _args: list[str]) -> str:
        self._dispatcher.pause()
        log.warning("delivery_paused")
        return (
            "Paused. Stream notifications wait in Redis; pub/sub ones are held, up to "
            f"{self._settings.pause_buffer_max} (more are dead-lettered). /resume to go on."
        )

    async def resume(self, _update: Update, _args: list[str]) -> str:
        held = self._dispatcher.pending
        self._dispatcher.resume()
        log.info("delivery_resumed", queued=held)
        return f"Resumed; {held} queued notifications are on their way."

    # -- helpers ------------------------------------------------------------------------

    def _sources(self) -> str:
        parts = []
        if self._leadership is not None:
            # Standbys do not read pub/sub: only the leader does (README: several instances).
            parts.append("leader" if self._leadership.is_leader else "standby")
        if self._listener is not None and (self._leadership is None or self._leadership.is_leader):
            state = "subscribed" if self._listener.subscribed.is_set() else "reconnecting"
            parts.append(f"pub/sub {state}")
        if self._stream is not None:
            state = "consuming" if self._stream.ready.is_set() else "reconnecting"
            parts.append(f"stream {state}")
        return ", ".join(parts)

    async def _backlog(self) -> str:
        stream, group = self._settings.notification_stream, self._settings.stream_group
        length = await self._redis.xlen(stream)
        pending = await pending_entries(self._redis, stream, group)
        return f"stream: {length} entries, {pending} pending"


async def _ping_ms(client: redis.asyncio.Redis) -> float:
    started = time.perf_counter()
    await client.ping()
    return (time.perf_counter() - started) * 1000


SCHEDULED_SHOWN = 20


def _scheduled_who(payload: str) -> str:
    """Who a held payload is for (it was valid when it was held)."""
    try:
        data = json.loads(payload)
    except ValueError:
        return "?"
    if "user_ids" in data:
        return f"fan-out to {len(data['user_ids'])} users"
    if data.get("audience") == "all":
        return "fan-out to all users"
    return f"user {data.get('user_id')}"


def _chat_short(info: ChatInfo) -> str:
    chat = info.chat
    topic = f"#{chat.thread_id}" if chat.thread_id is not None else ""
    return f"{chat.kind} {chat.chat_id}{topic}"


def _chat_long(info: ChatInfo) -> str:
    chat = info.chat
    parts = [f"{chat.kind} {chat.chat_id}"]
    if info.title:
        parts.append(f"“{info.title}”")
    if chat.thread_id is not None:
        parts.append(f"topic {chat.thread_id}")
    if info.linked_at:
        parts.append(f"linked {when(info.linked_at)} UTC")
    return ", ".join(parts)
