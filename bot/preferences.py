"""What a chat user chose (muted categories, quiet hours, digests, language) and the rule that
decides from it whether and how a notification is delivered. One model for the bot, the chat's
/settings and the web app's publisher, so all three agree on what is valid."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from importlib import resources
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

CATEGORY_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
QUIET_SHAPE = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)")
DEFAULT_LANGUAGE = "en"
LANGUAGE_TAG = re.compile(r"[a-z]{2,3}")  # a primary language subtag: "de", not "de-AT"
DEFAULT_DIGEST_SECONDS = 3600  # a category a user digests that DIGEST gives no window for
MIN_DIGEST_SECONDS, MAX_DIGEST_SECONDS = 60, 7 * 24 * 3600
HIGH_RANK = 0  # bot.notification's rank of "high": never held, digested or silenced
# callback_data of the button under a notification that mutes its category: "m:<category>"
# (an action button's is "a:<key>:<n>", a /settings button's "p:...").
MUTE_PREFIX = "m:"

QuietMode = Literal["silent", "hold"]


@dataclass(frozen=True)
class Category:
    """A kind of notification the operator declared (CATEGORIES). `mutable`: a user may turn it
    off; one that is not (security alerts) always arrives, at once and with a sound."""

    name: str
    label: str
    mutable: bool = True
    # The label in other languages (CATEGORIES: "orders:Orders|de=Bestellungen"), in order.
    translations: tuple[tuple[str, str], ...] = ()

    def label_in(self, *languages: str | None) -> str:
        """The label in the first of `languages` it has ("de-AT" counts as "de"), else its own."""
        if self.translations:
            labels = dict(self.translations)
            for language in languages:
                primary = primary_subtag(language)
                if primary in labels:
                    return labels[primary]
        return self.label

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"name": self.name, "label": self.label, "mutable": self.mutable}
        if self.translations:
            data["labels"] = dict(self.translations)
        return data


def parse_categories(text: str) -> tuple[Category, ...]:
    """CATEGORIES: `name:Label` items separated by commas; a trailing `!` on the label marks one
    a user cannot mute; `|de=Bestellungen` after the label gives it in another language
    (`orders:Orders|de=Bestellungen|fr=Commandes`). ValueError names the item that is wrong."""
    categories: list[Category] = []
    for number, item in enumerate((part.strip() for part in text.split(",")), start=1):
        if not item:
            if text.strip():
                raise ValueError(f"item {number} is empty (two commas in a row?)")
            continue
        name, colon, label = item.partition(":")
        name, label = name.strip(), label.strip()
        if not colon or not label or label == "!":
            raise ValueError(f"item {number} ({name!r}) needs a label: name:Label")
        if not CATEGORY_NAME.fullmatch(name):
            raise ValueError(
                f"item {number}: {name!r} is not a category name "
                "(1-32 of a-z, 0-9, _ and -, starting with a letter or digit)"
            )
        if any(category.name == name for category in categories):
            raise ValueError(f"item {number}: {name!r} is declared twice")
        mutable = not label.endswith("!")
        label, *others = (part.strip() for part in label.removesuffix("!").split("|"))
        translations = []
        for other in others:
            language, equals, translated = (part.strip() for part in other.partition("="))
            if not equals or not LANGUAGE_TAG.fullmatch(language) or not translated:
                raise ValueError(
                    f"item {number} ({name!r}): {other!r} is not language=Label, "
                    "e.g. de=Bestellungen"
                )
            translations.append((language, translated))
        categories.append(Category(name, label, mutable, tuple(translations)))
    return tuple(categories)


def parse_digest(text: str) -> dict[str, int]:
    """DIGEST: `category:seconds` items separated by commas."""
    windows: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, seconds = item.partition(":")
        name = name.strip()
        if not seconds.strip().isdigit():
            raise ValueError(f"{item!r} is not category:seconds")
        window = int(seconds)
        if not MIN_DIGEST_SECONDS <= window <= MAX_DIGEST_SECONDS:
            raise ValueError(
                f"{name}: a window of {window} s is outside "
                f"{MIN_DIGEST_SECONDS}-{MAX_DIGEST_SECONDS} s"
            )
        windows[name] = window
    return windows


@dataclass(frozen=True)
class QuietHours:
    """A daily span in the user's time zone; it may cross midnight (22:00-07:00)."""

    start: clock_time
    end: clock_time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        match = QUIET_SHAPE.fullmatch(text.strip())
        if match is None:
            raise ValueError(f"{text!r} is not HH:MM-HH:MM on a 24-hour clock, e.g. 22:00-07:00")
        start_h, start_m, end_h, end_m = (int(group) for group in match.groups())
        if (start_h, start_m) == (end_h, end_m):
            raise ValueError("quiet hours must start and end at different times")
        return cls(clock_time(start_h, start_m), clock_time(end_h, end_m))

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"

    def ends_after(self, moment: datetime) -> datetime | None:
        """When the quiet span that `moment` (aware, in the user's zone) lies in ends; None if
        it lies in none."""
        now = moment.timetz().replace(tzinfo=None)
        crosses_midnight = self.start > self.end
        inside = (
            (now >= self.start or now < self.end)
            if crosses_midnight
            else self.start <= now < self.end
        )
        if not inside:
            return None
        # The first instant after `moment` that the clock shows the end time: compared as
        # instants (two wall times in one zone compare by their digits, wrong in the hour a
        # clock change repeats, where the second of the two may be the one). An end time a
        # clock change skips becomes the instant after the gap.
        instant = moment.astimezone(UTC)
        for day in (moment.date(), moment.date() + timedelta(days=1)):
            for fold in (0, 1):
                end = datetime.combine(day, self.end, moment.tzinfo).replace(fold=fold)
                if end.astimezone(UTC) > instant:
                    return end.astimezone(UTC).astimezone(moment.tzinfo)
        return None  # not reached: the next day's end is always later


def primary_subtag(tag: str | None) -> str | None:
    """ "de-AT" -> "de"; IETF tags are case-insensitive, some clients write "de_AT"."""
    if not tag:
        return None
    return tag.replace("_", "-").split("-", 1)[0].strip().lower() or None


@functools.cache
def available_languages() -> tuple[str, ...]:
    """The languages with a message catalog: English (the messages themselves) and every
    bot/locale/<language>/ shipped."""
    try:
        locale = resources.files("bot") / "locale"
        found = sorted(entry.name for entry in locale.iterdir() if entry.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        found = []
    return (DEFAULT_LANGUAGE, *(name for name in found if name != DEFAULT_LANGUAGE))


class Preferences(BaseModel):
    """One user's choices. Stored as compact JSON (defaults left out); absent = all defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    muted: frozenset[str] = Field(default=frozenset(), description="Categories turned off.")
    quiet: str | None = Field(default=None, description="Quiet hours, HH:MM-HH:MM.")
    quiet_mode: QuietMode = Field(
        default="silent",
        description="During quiet hours: send without a sound, or hold until they end.",
    )
    timezone: str | None = Field(default=None, description="IANA time zone; None: UTC.")
    language: str | None = Field(default=None, description="Chosen language; None: Telegram's.")
    digest: frozenset[str] | None = Field(
        default=None,
        description="Categories collected into one message per window; None: DIGEST's.",
    )

    @field_validator("muted", "digest")
    @classmethod
    def _names(cls, value: frozenset[str] | None) -> frozenset[str] | None:
        for name in value or ():
            if not CATEGORY_NAME.fullmatch(name):
                raise ValueError(f"{name!r} is not a category name")
        return value

    @field_validator("quiet")
    @classmethod
    def _quiet(cls, value: str | None) -> str | None:
        return None if value is None else str(QuietHours.parse(value))

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        if value is not None:
            zone_of(value)
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        # Its shape only: which languages there are depends on the bot's templates too, so
        # /language and the publisher check that (check_language); a stored one stays valid
        # when a template's language is dropped (the next choice in line is used then).
        if value is not None and not LANGUAGE_TAG.fullmatch(value):
            raise ValueError(f"{value[:20]!r} is not a language code such as en or de")
        return value

    def check_language(self, languages: Iterable[str]) -> Preferences:
        """These preferences, or ValueError when the language is not one of `languages` (the
        bot's catalogs' and its templates')."""
        known = list(languages)
        if self.language is not None and self.language not in known:
            raise ValueError(
                f"language: no messages or templates in {self.language!r}; "
                f"there are: {', '.join(known)}"
            )
        return self

    @property
    def quiet_hours(self) -> QuietHours | None:
        return None if self.quiet is None else QuietHours.parse(self.quiet)

    @property
    def zone(self) -> ZoneInfo:
        return zone_of(self.timezone or "UTC")

    def digested(self, defaults: Iterable[str]) -> frozenset[str]:
        return frozenset(defaults) if self.digest is None else self.digest

    def check(self, categories: Iterable[Category]) -> Preferences:
        """These preferences, or ValueError naming a category that is not declared or that a
        user cannot mute (or digest: it always arrives at once)."""
        declared = {category.name: category for category in categories}
        for field, names in (("muted", self.muted), ("digest", self.digest or ())):
            for name in sorted(names):
                category = declared.get(name)
                if category is None:
                    raise ValueError(f"{field}: {name!r} is not a declared category")
                if not category.mutable:
                    raise ValueError(f"{field}: {name!r} cannot be muted or digested")
        return self

    def stored(self) -> str:
        return self.model_dump_json(exclude_defaults=True)


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone (e.g. Europe/Berlin)") from None


@functools.lru_cache(maxsize=4096)
def stored_preferences(raw: bytes | str) -> Preferences:
    """Preferences from their stored JSON, parsed once per distinct value: most users share a
    few, and this runs before every send. A value that no longer validates (a time zone
    dropped by the system, a catalog removed) counts as the defaults."""
    try:
        return Preferences.model_validate_json(raw)
    except ValidationError:
        return Preferences()


@dataclass(frozen=True)
class Decision:
    """What to do with one notification for its user."""

    action: Literal["send", "mute", "hold", "digest"] = "send"
    silent: bool = False
    until: float | None = None  # hold: when quiet hours end (Unix seconds)
    window: int | None = None  # digest: its window (seconds)


SEND = Decision()
DEFAULTS = Preferences()


def decide(
    preferences: Preferences | None,
    category: Category | None,
    *,
    rank: int,
    digest_windows: Mapping[str, int],
    now: float,
    released: bool = False,
) -> Decision:
    """Muted first (the user said no), then digest (one message later), then quiet hours
    (silent, or held until they end). A high-priority notification and a category the user
    cannot mute are never digested, held or silenced; one `released` from a hold is not held
    again. Without a declared category only quiet hours apply."""
    if preferences is None:
        if not digest_windows:
            return SEND  # the common case, decided without building anything
        preferences = DEFAULTS
    pressing = rank == HIGH_RANK or (category is not None and not category.mutable)
    if category is not None and category.mutable:
        if category.name in preferences.muted:
            return Decision("mute")
        if not pressing and category.name in preferences.digested(digest_windows):
            return Decision(
                "digest", window=digest_windows.get(category.name, DEFAULT_DIGEST_SECONDS)
            )
    if pressing or released:
        return SEND
    return _in_quiet_hours(preferences, now)


def _in_quiet_hours(preferences: Preferences, now: float) -> Decision:
    quiet = preferences.quiet_hours
    end = None if quiet is None else quiet.ends_after(datetime.fromtimestamp(now, preferences.zone))
    if end is None:
        return SEND
    if preferences.quiet_mode == "hold":
        return Decision("hold", until=end.timestamp())
    return Decision(silent=True)
