"""What a notification may carry, as the publisher's keyword arguments take it: buttons, the
options of a send (its reply field and reminders too), an edit and a fan-out, and the preference
changes a web app may make."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypedDict

from pydantic import ValidationError

from bot.notification.parsing import describe_errors
from bot.notification.schema import ChatsWanted, Format, Priority
from bot.preferences import Category, Preferences, QuietMode


@dataclass(frozen=True)
class Button:
    """An inline button under a notification: `Button.url(text, url)` opens a page,
    `Button.action(text, action)` reports `action` on the actions stream when tapped."""

    text: str
    kind: Literal["url", "action"]
    target: str

    @staticmethod
    def url(text: str, url: str) -> Button:
        """A button that opens a page.

        Args:
            text: its label.
            url: the page (http, https or tg).

        Returns:
            The button.
        """
        return Button(text, "url", url)

    @staticmethod
    def action(text: str, action: str) -> Button:
        """A button whose tap the bot reports on the actions stream (`Publisher.actions`).

        Args:
            text: its label.
            action: what the event says was tapped (e.g. "order-17:received").

        Returns:
            The button.
        """
        return Button(text, "action", action)

    def to_json(self) -> dict[str, str]:
        """Returns:
        The button as the notification's JSON has it: {"text": ..., "url" or "action": ...}.
        """
        return {"text": self.text, self.kind: self.target}


Receipts = Literal["summary", "each"]
# Where `publish` puts a notification: the durable stream, or the fire-and-forget channel.
Via = Literal["stream", "pubsub"]
# A datetime with a time zone, or an ISO 8601 string with one; a bare number means Unix seconds
# for expires_at but seconds from now for deliver_at.
Moment = datetime | str | float


class _Look(TypedDict, total=False):
    """How the message is read and shown: what a send and an edit share."""

    format: Format
    buttons: Sequence[Sequence[Button | dict[str, str]]] | None
    silent: bool
    preview: bool
    protect: bool
    thread_id: int | None


class ContentOptions(_Look, total=False):
    """What the message looks like (docs: reference/notification-fields.md)."""

    photo: str | None
    document: str | None


class DeliveryOptions(TypedDict, total=False):
    """When and how urgently it goes out: `expires_at` (a datetime with a time zone, or Unix
    seconds; not sent after it), `ttl` (seconds after publishing; not with expires_at),
    `deliver_at` (a datetime with a time zone, or a number of seconds from now; at most a year
    ahead) and `priority` ("high", "normal" or "bulk")."""

    expires_at: Moment | None
    ttl: float | None
    deliver_at: Moment | None
    priority: Priority | None
    # Its kind (CATEGORIES): a user who muted it does not get it; a mute button under it.
    category: str | None
    mute_button: bool
    # Which of the user's chats: "all" (the default), "private", "groups" or "channels".
    chats: ChatsWanted


class FanOutOptions(ContentOptions, DeliveryOptions, total=False):
    """What a fan-out may carry besides its recipients, message, id and receipts."""


class FeedbackOptions(TypedDict, total=False):
    """What the user may say back, on FEEDBACK_STREAM (`Publisher.feedback`); each needs an
    `id`, and neither goes on a fan-out.

    `reply`: True opens a reply field under the message, a str shows it as the field's
    placeholder (1-64 characters); what the user answers comes back as a "reply" event. Not
    with `buttons` or `mute_button`. `remind`: `(every, times)` or `{"every": ..., "times":
    ...}`: sent again every `every` seconds (at least REMIND_MIN_SECONDS, 60 unless the bot
    sets it lower), at most `times` (1 to 10) more times, until acknowledged (a tap, a reply,
    a reaction, `ack`); then an "unacknowledged" event."""

    reply: bool | str | None
    remind: tuple[int, int] | Mapping[str, int] | None


class Options(FanOutOptions, FeedbackOptions, total=False):
    """What a notification may carry besides its user and message (docs:
    reference/notification-fields.md)."""

    id: str | None
    receipts: Receipts


class EditOptions(_Look, total=False):
    """What an edit may set besides the message. `buttons` are those shown after the edit
    (left out: none, as in Telegram); silent, protect and thread_id apply to parts sent anew
    when the new text is longer."""

    priority: Priority | None


class PreferenceChanges(TypedDict, total=False):
    """What `set_preferences` may change; what is left out stays as it is."""

    muted: Iterable[str]  # the categories turned off (all of them: it replaces the set)
    quiet: str | None  # "22:00-07:00" in the user's time zone; None: no quiet hours
    quiet_mode: QuietMode  # "silent" (without a sound) or "hold" (wait until they end)
    timezone: str | None  # an IANA name, e.g. "Europe/Berlin"; None: UTC
    language: str | None  # one with a catalog or a template ("en", "de"); None: Telegram's
    digest: Iterable[str] | None  # categories collected into a digest; None: DIGEST's


def changed(
    current: Preferences, changes: PreferenceChanges, declared: Sequence[Category]
) -> Preferences:
    """`current` with `changes`, checked as the bot checks them: ValueError in one line naming
    what is wrong (a category that is not declared or cannot be muted, an unknown time zone).
    Only the categories given are checked: one the operator has since dropped from CATEGORIES
    may stay in what is stored (the bot ignores it) without blocking other changes."""
    fields: dict[str, Any] = current.model_dump()
    given: dict[str, Any] = dict(changes)
    for name, value in given.items():
        if name in ("muted", "digest") and isinstance(value, str):
            raise ValueError(f"{name}: give a list of category names, not one string")
        fields[name] = frozenset(value) if name in ("muted", "digest") and value else value
    try:
        changed = Preferences.model_validate(fields)
        Preferences.model_validate(
            {name: fields[name] for name in ("muted", "digest") if name in given}
        ).check(declared)
    except ValidationError as exc:
        raise ValueError(describe_errors(exc)) from None
    return changed
