"""The commands that put a notification, or what to do with an earlier one, on Redis."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from typing import Literal

from bot.cli import environment, flags
from bot.cli.command import EXIT_OK, Command, Commands
from bot.notification.schema import PRIORITY_RANK
from bot.publisher import AsyncPublisher
from bot.store import client as redis_client

PublisherCall = Callable[[AsyncPublisher, argparse.Namespace], Awaitable[object]]

TEMPLATE_HELP = (
    " Instead of MESSAGE, --template NAME with --data JSON names one of the running bot's "
    "templates; the name and the data's variables are checked against what it declared."
)


def add_commands(commands: Commands) -> None:
    """publish, enqueue, edit, delete, cancel, ack and fan-out."""
    _add_send(
        commands,
        "publish",
        "publish a notification (the durable stream, or --via pubsub); prints where it went",
        "Publish one notification as a web app's publish() does: on the durable stream of its "
        "--priority (NOTIFICATION_STREAM), where it waits until a bot delivers it; prints the "
        "stream and the entry id. With --via pubsub (or no NOTIFICATION_STREAM) on "
        "NOTIFICATION_CHANNEL instead, marked for this database's bot: only a bot listening "
        "now receives it; prints the number of receivers (0: lost).",
        _publish,
        via=True,
    )
    _add_send(
        commands,
        "enqueue",
        "add a notification to the durable stream; prints the stream entry id",
        "Add one notification to NOTIFICATION_STREAM (the stream of its --priority). It waits "
        "in Redis until a bot delivers it, even one started later. Prints the stream entry id.",
        _enqueue,
    )
    _add_follow_ups(commands)
    _add_fan_out(commands)


def _add_send(
    commands: Commands,
    name: str,
    summary: str,
    description: str,
    call: PublisherCall,
    *,
    via: bool = False,
) -> None:
    """A command that sends one notification to USER_ID; with `via`, a --via flag."""
    sender = commands.add_parser(name, help=summary, description=description + TEMPLATE_HELP)
    sender.add_argument("user_id", type=int, metavar="USER_ID")
    sender.add_argument("message", nargs="?", metavar="MESSAGE", help="the text (or --template)")
    sender.add_argument("--id", help="idempotency key: the same id is delivered only once")
    if via:
        sender.add_argument(
            "--via",
            choices=("stream", "pubsub"),
            default="stream",
            help="stream (the default: durable) or pubsub (lost if no bot listens now)",
        )
    flags.notification_flags(sender)
    flags.feedback_flags(sender)
    sender.set_defaults(func=_through_publisher(call))


def _add_follow_ups(commands: Commands) -> None:
    """edit, delete, cancel and ack: acting on an earlier notification by its id."""
    edit = commands.add_parser(
        "edit",
        help="change what was sent for a notification id; prints the stream entry id",
        description="Add an edit of notification ID, sent to USER_ID, to the durable stream: a "
        "new MESSAGE and/or buttons. Buttons not given are removed, as in Telegram; "
        "--no-buttons without MESSAGE removes them and keeps the text. It goes on the stream of "
        "--priority: enqueued after its send with the same priority, it applies after it."
        + TEMPLATE_HELP,
    )
    edit.add_argument("id", metavar="ID")
    edit.add_argument("user_id", type=int, metavar="USER_ID")
    edit.add_argument("message", nargs="?", metavar="MESSAGE")
    flags.template_flags(edit)
    flags.look_flags(edit)
    edit.add_argument("--no-buttons", action="store_true", help="remove the buttons")
    flags.priority_flag(edit, "normal")
    edit.set_defaults(func=_through_publisher(_edit))
    delete = commands.add_parser(
        "delete",
        help="delete what was sent for a notification id; prints the stream entry id",
        description="Add a delete of notification ID, sent to USER_ID, to the durable stream "
        "(of --priority).",
    )
    delete.add_argument("id", metavar="ID")
    delete.add_argument("user_id", type=int, metavar="USER_ID")
    flags.priority_flag(delete, "normal")
    delete.set_defaults(func=_through_publisher(_delete))
    cancel = commands.add_parser(
        "cancel",
        help="stop a scheduled notification or a fan-out; prints the stream entry id",
        description="Add a cancel of notification ID to the durable stream: one held for its "
        "deliver_at is dropped, a fan-out stops (what was sent stays).",
    )
    cancel.add_argument("id", metavar="ID")
    cancel.set_defaults(func=_through_publisher(_cancel))
    ack = commands.add_parser(
        "ack",
        help="acknowledge a notification for its user: no more reminders; prints the stream "
        "entry id",
        description="Add an acknowledgement of notification ID, sent to USER_ID with --remind, "
        "to the durable stream (of --priority): it is not sent again. Refused when the running "
        "bot says it reads no remind (it would not know the ack).",
    )
    ack.add_argument("id", metavar="ID")
    ack.add_argument("user_id", type=int, metavar="USER_ID")
    flags.priority_flag(ack, "normal")
    ack.set_defaults(func=_through_publisher(_ack))


def _add_fan_out(commands: Commands) -> None:
    fan_out = commands.add_parser(
        "fan-out",
        help="one notification to many users, or all; prints the stream entry id",
        description="Add one notification for many users (--users, 1 to 10,000) or every linked "
        "user (--all) to the durable stream, bulk priority unless --priority says otherwise. "
        "Prints the stream entry id." + TEMPLATE_HELP,
    )
    audience = fan_out.add_mutually_exclusive_group(required=True)
    audience.add_argument("--users", type=flags.user_ids, metavar="ID,ID,...", help="the user ids")
    audience.add_argument("--all", action="store_true", help="every linked user")
    fan_out.add_argument("message", nargs="?", metavar="MESSAGE", help="the text (or --template)")
    fan_out.add_argument("--id", help="names the fan-out, for cancel and its receipts")
    fan_out.add_argument(
        "--receipts",
        choices=("summary", "each"),
        default="summary",
        help="one receipt at the end (default), or one per recipient too",
    )
    flags.notification_flags(fan_out, priority="bulk")
    fan_out.set_defaults(func=_through_publisher(_fan_out))


def _through_publisher(call: PublisherCall) -> Command:
    """A command that makes one call of an AsyncPublisher and prints what it returns."""

    def command(args: argparse.Namespace) -> int:
        settings = environment.settings(require_token=False)

        async def send() -> None:
            async with environment.publisher(settings) as publisher:
                print(await call(publisher, args))

        asyncio.run(send())
        return EXIT_OK

    return command


async def _publish(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    published = await publisher.publish(
        args.user_id,
        args.message,
        template=args.template,
        data=args.data,
        via=args.via,
        id=args.id,
        **flags.content(args),
        **flags.delivery(args),
        **flags.feedback(args),
    )
    if published.entry_id is not None:
        rank = PRIORITY_RANK[args.priority or "normal"]
        stream = redis_client.priority_streams(publisher.stream)[rank]
        return f"queued on stream {stream}: {published.entry_id}"
    why = "" if args.via == "pubsub" else " (NOTIFICATION_STREAM is empty)"
    lost = " (no bot is listening: it is lost)" if published == 0 else ""
    plural = "" if published == 1 else "s"
    return f"published on channel {publisher.channel}{why}: {published} receiver{plural}{lost}"


async def _enqueue(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.enqueue(
        args.user_id,
        args.message,
        template=args.template,
        data=args.data,
        id=args.id,
        **flags.content(args),
        **flags.delivery(args),
        **flags.feedback(args),
    )


async def _edit(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.edit(
        args.id,
        args.user_id,
        args.message,
        template=args.template,
        data=args.data,
        **flags.edit_options(args),
    )


async def _delete(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.delete(args.id, args.user_id, priority=args.priority)


async def _cancel(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.cancel(args.id)


async def _ack(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    return await publisher.ack(args.id, args.user_id, priority=args.priority)


async def _fan_out(publisher: AsyncPublisher, args: argparse.Namespace) -> str:
    users: list[int] | Literal["all"] = "all" if args.all else args.users
    return await publisher.fan_out(
        users,
        args.message,
        template=args.template,
        data=args.data,
        id=args.id,
        receipts=args.receipts,
        **flags.content(args),
        **flags.delivery(args),
    )
