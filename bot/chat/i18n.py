"""The chat user's language: which one a reply is in, and the message catalogs it comes from.

Messages are written in English where they are defined and marked for extraction; the English
text is the msgid, and a reply translates it when it is sent::

    LINKED = N_("Done: this chat is now linked ...")           # stays the English text
    await message.reply_text(gettext(language, LINKED))

    QUIET = N_("Quiet hours: {start}-{end}")                   # values: named str.format fields,
    gettext(language, QUIET).format(start=..., end=...)      # filled in after translating

    HELD = NP_("{n} notification waits", "{n} notifications wait")   # plurals: mark the pair,
    ngettext(language, *HELD, n).format(n=n)                         # pass it with the count

`N_` and `NP_` only mark; they return their arguments unchanged. `pybabel extract` finds them
with `--no-default-keywords -k N_ -k NP_:1,2` (docs: reference/commands.md, Languages), so
only marked messages are in the catalogs: never pass a variable or an f-string to them, and
never call `gettext` on text that was not marked (it would be sent in English).

The catalogs are `bot/locale/<language>/LC_MESSAGES/messages.po`, read with Babel the first time
a language is needed (`load` reads them all at start-up) and kept: no compiled `.mo` file ships,
so none can be older than its `.po`. A message missing from a catalog is sent in English.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Awaitable, Callable
from gettext import GNUTranslations, NullTranslations
from importlib import resources
from typing import IO, TYPE_CHECKING

import structlog
from babel import Locale, UnknownLocaleError
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from redis.exceptions import RedisError

from bot.preferences import available_languages, primary_subtag

if TYPE_CHECKING:
    from telegram import Update

log = structlog.get_logger(__name__)

# Languages with a catalog in bot/locale ("en" first): the same list the preferences model
# accepts, read from the package once.
LANGUAGES: tuple[str, ...] = available_languages()
LANGUAGE_NAMES: dict[str, str] = {"en": "English", "de": "Deutsch"}  # each in its own language
DOMAIN = "messages"

# chat id -> the language the chat's user picked in /settings (None when none was picked).
ChosenLanguage = Callable[[int], Awaitable[str | None]]


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name for a marker
    """Mark `message` for extraction; it is translated later, by `gettext`."""
    return message


def NP_(singular: str, plural: str) -> tuple[str, str]:  # noqa: N802 - as N_
    """Mark a message with a plural for extraction; pass the pair to `ngettext`."""
    return singular, plural


def pick(language_code: str | None, chosen: str | None = None) -> str:
    """The language of a reply: `chosen` (the user's pick in /settings) if it has a catalog,
    else Telegram's `language_code` reduced to its primary subtag ("de-AT" -> "de") if that
    has one, else English."""
    for candidate in (chosen, language_code):
        primary = primary_subtag(candidate)
        if primary in LANGUAGES:
            return primary
    return LANGUAGES[0]


def language_name(code: str) -> str:
    """A language's name in itself ("Deutsch", "français"), for /language and /settings."""
    name = LANGUAGE_NAMES.get(code)
    if name is None:
        try:
            name = Locale.parse(code).get_display_name(code) or code
        except (UnknownLocaleError, ValueError):
            name = code
    return name


def gettext(language: str, message: str) -> str:
    """`message` (an English msgid) in `language`; English when it has no translation."""
    return _translations(language).gettext(message)


def ngettext(language: str, singular: str, plural: str, n: int) -> str:
    """The form for `n` of a message with a plural, in `language`."""
    return _translations(language).ngettext(singular, plural, n)


def load() -> None:
    """Read every catalog now, so that a broken one stops the start rather than a reply."""
    for language in LANGUAGES:
        _translations(language)


async def language_of(update: Update, chosen_language: ChosenLanguage | None) -> str:
    """The language to answer `update` in. The user's pick is read with `chosen_language`; when
    Redis cannot say, Telegram's language_code decides (the reply matters more)."""
    user, chat = update.effective_user, update.effective_chat
    language_code = user.language_code if user is not None else None
    chosen = None
    if chosen_language is not None and chat is not None:
        try:
            chosen = await chosen_language(chat.id)
        except RedisError as exc:
            log.warning("chosen_language_unavailable", chat_id=chat.id, error=str(exc))
    return pick(language_code, chosen)


def translations_from_po(po_file: IO[bytes], language: str) -> GNUTranslations:
    """A catalog read from a `.po` file: compiled in memory, fuzzy entries left out."""
    catalog = read_po(po_file, locale=language, domain=DOMAIN)
    mo_file = io.BytesIO()
    write_mo(mo_file, catalog, use_fuzzy=False)
    mo_file.seek(0)
    return GNUTranslations(mo_file)


@functools.cache
def _translations(language: str) -> NullTranslations:
    if language not in LANGUAGES:
        return NullTranslations()  # the msgids: English
    po_path = resources.files("bot").joinpath("locale", language, "LC_MESSAGES", f"{DOMAIN}.po")
    with po_path.open("rb") as po_file:
        return translations_from_po(po_file, language)
