"""What the running bot says it understands (bot.store.manifest, written at its start-up): the
templates it has, and the check of a notification against it before publishing, so that one it
would ignore or refuse fails in the web app's call instead of in a dead letter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.notification.schema import Notification
from bot.store.manifest import FIELDS, TEMPLATES, fields_from, templates_from
from bot.store.plans import Command, Plan

# The fields every bot has read, from before bots said which they read (notify:fields): a
# notification of these only is published without asking the bot. A field added to the
# notification later is not in this set, so a payload that uses it is checked against
# notify:fields first (today: template and data); do not add it here.
KNOWN_TO_EVERY_BOT = frozenset(
    {
        "user_id", "message", "id", "format", "buttons", "silent", "preview", "protect",
        "thread_id", "photo", "document", "op", "expires_at", "ttl", "deliver_at",
        "priority", "user_ids", "audience", "receipts", "category", "mute_button", "chats",
        "deployment",
    }
)  # fmt: skip


@dataclass(frozen=True)
class Template:
    """A template the running bot has (a file of its TEMPLATES_DIR), as the bot declared it."""

    name: str
    languages: tuple[str, ...]  # in the file's order: the first is the one of last resort
    variables: tuple[str, ...]  # sorted: what `data` must name, the same in every language
    # "text", "html" or "markdown"; a str, so that a format a newer bot adds still reads
    format: str
    category: str | None  # its default category: a notification's own `category` wins


def templates_of(stored: bytes | str | None) -> dict[str, Template]:
    """The templates in what the bot stored under notify:templates, by name; ValueError when
    no bot has declared any (none of this version has started on this database)."""
    declared = templates_from(stored)
    if declared is None:
        raise ValueError(
            f"no bot has declared its templates yet ({TEMPLATES} is not in Redis): start a bot "
            "of this version (with TEMPLATES_DIR) on this database"
        )
    return {name: _template(name, entry) for name, entry in declared.items()}


def understood(notification: Notification) -> Plan[None]:
    """Nothing at all for a notification of fields every bot reads. One that uses a newer field
    costs one read, of what the running bot declared (its fields, and its templates when it
    names one); ValueError, one line, for what that bot would ignore or refuse."""
    newer = [
        name
        for name in Notification.model_fields
        if name not in KNOWN_TO_EVERY_BOT
        and name in notification.model_fields_set
        and getattr(notification, name) is not None
    ]
    if not newer:
        return
    name = notification.template
    stored = yield Command("mget", (FIELDS, TEMPLATES) if name is not None else (FIELDS,))
    _check_fields(newer, fields_from(stored[0]))
    if name is not None:
        check_template(name, notification.data or {}, templates_of(stored[1]))


def acknowledgeable() -> Plan[None]:
    """One read: ValueError when the running bot says which fields it reads and `remind` is
    not one of them (a bot that sends no reminders knows no op ack: a dead letter). A bot that
    says nothing (older than the manifest) is not asked; its dead letter will tell."""
    read = fields_from((yield Command("get", (FIELDS,))))
    if read is not None and "remind" not in read:
        raise ValueError(
            f"the running bot does not read 'remind' ({FIELDS}): it sends no reminders and "
            "knows no op ack; upgrade the bot"
        )


def check_template(name: str, data: Mapping[str, Any], templates: Mapping[str, Template]) -> None:
    """ValueError, worded as the bot's dead letter would be, unless the bot has template
    `name` and `data` names each of its variables."""
    template = templates.get(name)
    if template is None:
        known = ", ".join(sorted(templates)) or "none (its TEMPLATES_DIR is unset or empty)"
        raise ValueError(
            f"invalid notification: template: {name!r} is not one of the running bot's: {known}"
        )
    missing = [variable for variable in template.variables if variable not in data]
    if missing:
        raise ValueError(f"invalid notification: data.{missing[0]}: missing (template {name})")


def _check_fields(newer: list[str], read: frozenset[str] | None) -> None:
    if read is None:
        raise ValueError(
            "the running bot does not say which fields it reads (it is older than this "
            f"publisher): it would ignore {_names(newer)}; upgrade the bot"
        )
    ignored = [name for name in newer if name not in read]
    if ignored:
        them = "it" if len(ignored) == 1 else "them"
        raise ValueError(
            f"the running bot does not read {_names(ignored)} ({FIELDS}): it would ignore "
            f"{them}; upgrade the bot"
        )


def _names(fields: list[str]) -> str:
    return " and ".join(repr(name) for name in fields)


def _template(name: str, entry: Mapping[str, Any]) -> Template:
    # .get: what an older or newer bot leaves out or adds must not break the web app's page.
    category = entry.get("category")
    return Template(
        name=name,
        languages=tuple(str(language) for language in entry.get("languages", ())),
        variables=tuple(sorted(str(variable) for variable in entry.get("variables", ()))),
        format=str(entry.get("format", "text")),
        category=None if category is None else str(category),
    )
