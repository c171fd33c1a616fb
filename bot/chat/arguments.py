"""An admin command's arguments, and the one-line usage reply when they are wrong."""

from __future__ import annotations


class Usage(Exception):
    """Bad arguments: the message is the one-line usage to reply with."""


def int_arg(args: list[str], usage: str, default: int | None = None) -> int:
    if not args:
        if default is None:
            raise Usage(usage)
        return default
    try:
        return int(args[0])
    except ValueError:
        raise Usage(usage) from None
