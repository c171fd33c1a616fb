"""The filters a template formats values with for its reader: dates and times in the reader's
time zone and language, numbers and amounts of money in their language (Babel's CLDR data)."""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_currency, format_decimal

# Filters that show a moment: a template using one renders per time zone as well as language.
TIME_FILTERS = frozenset({"date", "time", "datetime"})
NAMES = TIME_FILTERS | {"number", "currency"}
FORMATS = frozenset({"short", "medium", "long", "full"})
MAX_DECIMALS = 20


class ValueTypeError(ValueError):
    """A value a filter cannot format; `value` is the one it got (to name it in data)."""

    def __init__(self, value: object, expected: str) -> None:
        self.value = value
        super().__init__(f"expected {expected}, got {_shown(value)}")


class Reader:
    """For whom a render formats: the language (a Babel locale) and the time zone."""

    def __init__(self, language: str, zone: ZoneInfo) -> None:
        self.locale = locale_of(language)
        self.zone = zone

    def date(self, value: object, form: str = "medium") -> str:
        moment = _moment(value, "a date")
        day = moment if not isinstance(moment, datetime) else moment.astimezone(self.zone).date()
        return format_date(day, _form(form), locale=self.locale)

    def time(self, value: object, form: str = "short") -> str:
        moment = _moment(value, "a time", with_time=True)
        assert isinstance(moment, datetime)  # noqa: S101
        return format_time(moment, _form(form), tzinfo=self.zone, locale=self.locale)

    def datetime(self, value: object, form: str = "medium") -> str:
        moment = _moment(value, "a date and time", with_time=True)
        assert isinstance(moment, datetime)  # noqa: S101
        return format_datetime(moment, _form(form), tzinfo=self.zone, locale=self.locale)

    def number(self, value: object, decimals: int | None = None) -> str:
        amount = _number(value)
        if decimals is not None:
            if not isinstance(decimals, int) or not 0 <= decimals <= MAX_DECIMALS:
                raise ValueTypeError(decimals, f"decimals from 0 to {MAX_DECIMALS}")
            pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
            return format_decimal(round(amount, decimals), pattern, locale=self.locale)
        return format_decimal(amount, locale=self.locale)

    def currency(self, value: object, code: str = "EUR") -> str:
        if not isinstance(code, str) or len(code) != 3 or not code.isalpha():
            raise ValueTypeError(code, "a currency code such as EUR")
        return format_currency(_number(value), code.upper(), locale=self.locale)


def warm(language: str) -> None:
    """Load `language`'s CLDR data now: Babel reads it at the first use, tens of milliseconds
    that would otherwise fall into a render's budget."""
    reader = Reader(language, ZoneInfo("UTC"))
    reader.datetime(0, "full")
    reader.date(0, "full")
    reader.time(0, "full")
    reader.currency(1, "EUR")
    reader.number(1.5)


@functools.cache
def locale_of(language: str) -> Locale:
    """Babel's locale for a primary language subtag; English for one CLDR does not know."""
    try:
        return Locale.parse(language)
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def _form(form: object) -> str:
    if form not in FORMATS:
        raise ValueTypeError(form, "short, medium, long or full")
    return str(form)


def _moment(value: object, expected: str, *, with_time: bool = False) -> date | datetime:
    """A date ("2026-12-24"), or an aware moment: ISO 8601 with a time zone, or Unix seconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueTypeError(value, expected) from None
    if isinstance(value, str) and len(value) <= 64:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueTypeError(value, f"{expected} (ISO 8601 or Unix seconds)") from None
        if len(value) <= 10 and not with_time:
            return moment.date()
        if moment.tzinfo is None:
            raise ValueTypeError(value, f"{expected} with a time zone (…Z or …+01:00)")
        return moment
    raise ValueTypeError(value, f"{expected} (ISO 8601 or Unix seconds)")


def _number(value: object) -> Decimal:
    if isinstance(value, bool):
        raise ValueTypeError(value, "a number")
    if isinstance(value, int | float | str) and len(str(value)) <= 40:
        try:
            amount = Decimal(str(value))
        except InvalidOperation:
            raise ValueTypeError(value, "a number") from None
        if amount.is_finite():
            return amount
    raise ValueTypeError(value, "a number")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:40] + "…"
