"""The flags that give a notification's fields, and the publisher's options they become."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from bot.publisher import Button, ContentOptions, DeliveryOptions, EditOptions, FeedbackOptions


def notification_flags(command: argparse.ArgumentParser, *, priority: str = "normal") -> None:
    """A flag for each optional field of a notification (docs: reference/notification-fields.md)."""
    template_flags(command)
    look_flags(command)
    media = command.add_mutually_exclusive_group()
    media.add_argument("--photo", metavar="URL_OR_FILE_ID", help="a photo; MESSAGE is its caption")
    media.add_argument(
        "--document", metavar="URL_OR_FILE_ID", help="a file; MESSAGE is its caption"
    )
    command.add_argument(
        "--expires-at",
        type=_when,
        metavar="WHEN",
        help="not sent after WHEN: ISO 8601 with a time zone (2026-12-01T09:00:00+01:00, ...Z) "
        "or +SECONDS from now",
    )
    command.add_argument(
        "--ttl",
        type=float,
        metavar="SECONDS",
        help="not sent later than SECONDS after publishing (not with --expires-at)",
    )
    command.add_argument(
        "--deliver-at",
        type=_when,
        metavar="WHEN",
        help="held until WHEN (at most a year ahead): ISO 8601 with a time zone or +SECONDS",
    )
    priority_flag(command, priority)
    command.add_argument(
        "--category",
        metavar="NAME",
        help="its kind, one of CATEGORIES: users who muted it do not get it",
    )
    command.add_argument(
        "--mute-button",
        action="store_true",
        help="a button under it that mutes its --category for the user",
    )
    command.add_argument(
        "--chats",
        choices=("all", "private", "groups", "channels"),
        default="all",
        help="which of the user's chats get it (default: all)",
    )


def feedback_flags(command: argparse.ArgumentParser) -> None:
    """--reply and --remind: what the user may say back (a send to one user, with an --id)."""
    command.add_argument(
        "--reply",
        nargs="?",
        const=True,
        metavar="PLACEHOLDER",
        help="open a reply field under it (showing PLACEHOLDER, 1-64 characters); the answer "
        "comes back on FEEDBACK_STREAM. Needs --id; not with buttons. A word right after "
        "--reply is its placeholder: give MESSAGE first",
    )
    command.add_argument(
        "--remind",
        type=remind,
        metavar="EVERY,TIMES",
        help="send it again every EVERY seconds (at least REMIND_MIN_SECONDS), at most TIMES "
        "(1-10) more times, until acknowledged (python -m bot ack); needs --id",
    )


def template_flags(command: argparse.ArgumentParser) -> None:
    """--template and --data: one of the running bot's templates instead of MESSAGE."""
    command.add_argument(
        "--template",
        metavar="NAME",
        help="instead of MESSAGE: one of the running bot's templates (TEMPLATES_DIR), "
        "rendered in each reader's language with its own format and buttons",
    )
    command.add_argument(
        "--data",
        type=json_object,
        metavar="JSON",
        help='the template\'s values, a JSON object: \'{"order": 17, "eta": "2026-12-24"}\'',
    )


def look_flags(command: argparse.ArgumentParser) -> None:
    """How the message is read and shown: the flags a send and an edit share."""
    # No default here: left out, the field is left out, as a template needs (it brings its
    # own format); the bot reads a message as text then.
    command.add_argument(
        "--format",
        choices=("text", "html", "markdown"),
        help="how MESSAGE is read (default: text, sent as is)",
    )
    # Both append to one list: the buttons come out in the order they were given.
    command.add_argument(
        "--button",
        action="append",
        dest="buttons",
        default=[],
        metavar="TEXT=URL",
        type=_button("url"),
        help="a button that opens URL (repeat for more; each on its own row)",
    )
    command.add_argument(
        "--action",
        action="append",
        dest="buttons",
        default=[],
        metavar="TEXT=ACTION",
        type=_button("action"),
        help="a button whose tap reports ACTION on ACTIONS_STREAM (repeat for more)",
    )
    command.add_argument("--silent", action="store_true", help="arrives without a sound")
    command.add_argument("--no-preview", action="store_true", help="no link preview")
    command.add_argument("--protect", action="store_true", help="cannot be forwarded or saved")
    command.add_argument("--thread-id", type=int, metavar="N", help="the forum topic to post in")


def priority_flag(command: argparse.ArgumentParser, default: str) -> None:
    """--priority; left out, the publisher's default (`default`, as --help says) applies."""
    command.add_argument(
        "--priority",
        choices=("high", "normal", "bulk"),
        help=f"how urgent: the bot takes high first, bulk last (default: {default})",
    )


def user_ids(value: str) -> list[int]:
    """--users 1,2,3; empty gives [], for the model to refuse with its own words."""
    try:
        return [int(part) for part in value.split(",")] if value.strip() else []
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected user ids separated by commas, got {value[:40]!r}"
        ) from None


def remind(value: str) -> tuple[int, int]:
    """--remind 600,3: two whole numbers; the model checks their ranges, naming the field."""
    every, sign, times = value.partition(",")
    try:
        if sign:
            return int(every), int(times)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"expected EVERY,TIMES (seconds between reminders, how many at most), e.g. 600,3; "
        f"got {value[:40]!r}"
    )


def json_object(value: str) -> dict[str, Any]:
    """--data: a JSON object; anything else is a usage error saying what it got."""
    try:
        data = json.loads(value)
    except (ValueError, RecursionError) as exc:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise argparse.ArgumentTypeError(f"not valid JSON ({reason})") from None
    if not isinstance(data, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{...}}, got {value[:40]!r}")
    return data


def content(args: argparse.Namespace) -> ContentOptions:
    """What the message is and how it looks, from notification_flags."""
    options = ContentOptions(
        buttons=_rows(args),
        silent=args.silent,
        preview=not args.no_preview,
        protect=args.protect,
        thread_id=args.thread_id,
        photo=args.photo,
        document=args.document,
    )
    if args.format is not None:
        options["format"] = args.format
    return options


def delivery(args: argparse.Namespace) -> DeliveryOptions:
    """When, how urgently and to which chats it goes, from notification_flags."""
    expires_at = args.expires_at
    if isinstance(expires_at, float):  # +SECONDS: expires_at takes a moment, not a delay
        expires_at += time.time()
    return DeliveryOptions(
        expires_at=expires_at,
        ttl=args.ttl,
        deliver_at=args.deliver_at,  # the publisher reads a number as seconds from now
        priority=args.priority,
        category=args.category,
        mute_button=args.mute_button,
        chats=args.chats,
    )


def feedback(args: argparse.Namespace) -> FeedbackOptions:
    """The reply field and reminders, from feedback_flags."""
    return FeedbackOptions(reply=args.reply, remind=args.remind)


def edit_options(args: argparse.Namespace) -> EditOptions:
    """An edit's options, from look_flags, priority_flag and --no-buttons."""
    buttons = _rows(args)
    if args.no_buttons:
        if buttons:
            raise ValueError("--no-buttons and --button/--action: give one of them, not both")
        buttons = []  # [] reaches the bot: no buttons; None leaves the field out
    options = EditOptions(
        buttons=buttons,
        silent=args.silent,
        preview=not args.no_preview,
        protect=args.protect,
        thread_id=args.thread_id,
        priority=args.priority,
    )
    if args.format is not None:
        options["format"] = args.format
    return options


def _button(kind: str) -> Callable[[str], Button]:
    def parse(value: str) -> Button:
        text, sign, target = value.partition("=")
        if not sign or not text or not target:
            raise argparse.ArgumentTypeError(f"expected TEXT={kind.upper()}, got {value!r}")
        return Button.url(text, target) if kind == "url" else Button.action(text, target)

    return parse


def _when(value: str) -> str | float:
    """--expires-at, --deliver-at: +SECONDS gives seconds from now; anything else is passed on
    as ISO 8601, for the model to read or refuse naming the field. A bare number is refused
    here, saying what was likely meant: Unix seconds and seconds from now are too easily
    taken for each other."""
    if value.startswith("+"):
        with suppress(ValueError):
            return float(value[1:])
    with suppress(ValueError):
        float(value)
        raise argparse.ArgumentTypeError(
            f"{value!r} is a bare number: +{value} for {value} seconds from now, or a time "
            "with its zone (2026-12-24T18:00:00+01:00)"
        )
    return value


def _rows(args: argparse.Namespace) -> list[list[Button]] | None:
    """Each button on a row of its own; None when none was given (the field left out)."""
    return [[button] for button in args.buttons] or None
