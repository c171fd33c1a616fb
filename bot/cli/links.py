"""The commands on who is linked to which chat: deep links to link one, the registry's schema."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from redis import Redis
from redis.asyncio import Redis as AsyncRedis

from bot.cli import environment
from bot.cli.command import EXIT_OK, Commands, fail
from bot.config.settings import ConfigError, Settings


def add_commands(commands: Commands) -> None:
    """link and migrate."""
    link = commands.add_parser(
        "link",
        help="print a deep link for each user id",
        description="Print one https://t.me/<bot>?start=<token> link per user id. "
        "Opening it in Telegram links that chat to the user id.",
    )
    link.add_argument("user_ids", type=int, nargs="+", metavar="USER_ID")
    chat_kind = link.add_mutually_exclusive_group()
    chat_kind.add_argument(
        "--group",
        action="store_true",
        help="a https://t.me/<bot>?startgroup= link: it adds the bot to a group the opener "
        "picks (an administrator of it) and links that group",
    )
    chat_kind.add_argument(
        "--channel",
        action="store_true",
        help="a /link <token> line for an administrator to post in a channel where the bot "
        "is an administrator",
    )
    link.set_defaults(func=_link)
    migrate = commands.add_parser(
        "migrate",
        help="bring the chat registry in Redis to this version's schema (or back: --to 1)",
        description="Bring the chat registry in Redis to this version's schema (the bot does it "
        "on start too), or with --to 1 write it back for the version before several chats per "
        "user (each user keeps the oldest chat). Roll back with no bot running.",
    )
    migrate.add_argument("--to", type=int, choices=(1, 2), default=2, help="schema version")
    migrate.set_defaults(func=_migrate)


def _link(args: argparse.Namespace) -> int:
    settings = environment.settings(require_token=not args.channel)  # a channel's needs no getMe
    if args.channel:
        return asyncio.run(_print_channel_lines(settings, args.user_ids))
    return asyncio.run(_print_links(settings, args.user_ids, group=args.group))


async def _print_links(settings: Settings, user_ids: Sequence[int], *, group: bool) -> int:
    from telegram.error import InvalidToken, TelegramError  # noqa: PLC0415 - LAZY, see bot.cli

    from bot.telegram.proxy import one_off_bot  # noqa: PLC0415

    bot = one_off_bot(settings.token, settings.telegram_base_url, settings.proxy)
    try:
        async with bot:  # getMe: the username goes into the link
            username = bot.username
    except InvalidToken:
        raise ConfigError("BOT_TOKEN: rejected by Telegram (Unauthorized)") from None
    except TelegramError as exc:
        return fail(f"error: cannot reach Telegram: {exc.message}")
    async with environment.publisher(settings) as publisher:
        for user_id in user_ids:
            print(
                await publisher.create_link(
                    user_id, ttl=settings.link_ttl_seconds, bot_username=username, group=group
                )
            )
    return EXIT_OK


async def _print_channel_lines(settings: Settings, user_ids: Sequence[int]) -> int:
    """No deep link exists for a channel: its administrator posts the token there."""
    async with environment.publisher(settings) as publisher:
        for user_id in user_ids:
            token = await publisher.create_link_token(
                user_id, kind="channel", ttl=settings.link_ttl_seconds
            )
            print(f"/link {token}")
    return EXIT_OK


def _migrate(args: argparse.Namespace) -> int:
    from bot.store import schema  # noqa: PLC0415 - LAZY, see bot.cli

    settings = environment.settings(require_token=False)
    if args.to == 1:
        client = Redis.from_url(settings.redis_url)
        try:
            kept, dropped = schema.roll_back(client)
        except schema.BotsRunning as exc:
            return fail(f"error: {exc}")
        finally:
            client.close()
        print(f"schema 1: {kept} users keep their oldest chat; {dropped} other chats unlinked")
        return EXIT_OK

    async def up() -> schema.Migrated:
        client = AsyncRedis.from_url(settings.redis_url)
        try:
            return await schema.migrate(client)
        except schema.SchemaTooNew as exc:
            raise ConfigError(f"REDIS_URL: {exc}") from None
        finally:
            await client.aclose()

    done = asyncio.run(up())
    print(f"schema {schema.VERSION} (was {done.before}); {done.moved} links moved")
    return EXIT_OK
