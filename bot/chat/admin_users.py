"""The admin's side of the chat registry: /users, /whois, /link and /unlink."""

from __future__ import annotations

import html

import redis.asyncio
import structlog
from telegram import Update

from bot.chat.admin_format import duration, when
from bot.chat.arguments import Usage, int_arg
from bot.store import counters as stats_store
from bot.store.chat_directory import ChatInfo
from bot.store.link_tokens import deep_link
from bot.store.registry import ChatRegistry

log = structlog.get_logger(__name__)

PAGE_SIZE = 20


class UserCommands:
    """Who is linked to which chats; links made and removed on a user's behalf."""

    def __init__(
        self, *, client: redis.asyncio.Redis, registry: ChatRegistry, link_ttl_seconds: int
    ) -> None:
        self._redis = client
        self._registry = registry
        self._link_ttl = link_ttl_seconds

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

    async def link(self, update: Update, args: list[str]) -> str:
        usage = "/link USER_ID [group|channel]"
        user_id = int_arg(args, usage)
        kind = args[1] if len(args) > 1 else "private"
        if kind not in ("private", "group", "channel") or len(args) > 2:
            raise Usage(usage)
        ttl = self._link_ttl
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
