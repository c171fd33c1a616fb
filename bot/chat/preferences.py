"""The chat user's own controls: /settings (one message of toggles, edited in place when
tapped), /quiet and /timezone, and the "mute" button under a notification. What they change is
the same record the web app reads and writes (bot.store.preferences), so both show one state."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping

import structlog
from telegram import Chat, InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    filters,
)

from bot.chat.i18n import LANGUAGES, N_, gettext, language_name, pick
from bot.chat.linking import NOT_LINKED
from bot.preferences import MUTE_PREFIX, Category, Preferences, QuietHours, zone_of
from bot.store.preferences import PreferenceStore

log = structlog.get_logger(__name__)

SETTINGS_PREFIX = "p:"  # callback_data of /settings' buttons: "p:<what>[:<argument>]"

TITLE = N_(
    "⚙️ Your notifications. Tap a kind to turn it on or off; 📬 collects it into one message "
    "now and then instead."
)
QUIET_OFF = N_("🌙 Quiet hours: off. Set them with /quiet 22:00-07:00.")
QUIET_SILENT = N_("🌙 Quiet hours: {span} ({zone}). Notifications arrive without a sound then.")
QUIET_HOLD = N_("🌙 Quiet hours: {span} ({zone}). Notifications wait until they end.")
LANGUAGE = N_("🌐 Language: {language}")
DIGEST_ON = N_("📬 digest: on")
DIGEST_OFF = N_("📬 digest: off")
MODE_SILENT = N_("🌙 Quiet hours: without a sound")
MODE_HOLD = N_("🌙 Quiet hours: wait until they end")
ALWAYS = N_("{label} always arrives: it cannot be turned off.")
TURNED_OFF = N_("🔕 {label} is off. To turn it back on: /settings")
SAVED = N_("Saved.")
GONE = N_("This setting is not offered any more. Send /settings for the current ones.")
QUIET_USAGE = N_(
    "Send /quiet 22:00-07:00 (24-hour clock, in your time zone, now {zone}) to set quiet hours, "
    "or /quiet off to end them."
)
QUIET_BAD = N_(
    "“{value}” is not a span of time like 22:00-07:00. Send /quiet 22:00-07:00 or /quiet off."
)
QUIET_SET = N_(
    "Quiet hours are now {span} ({zone}): notifications arrive without a sound then. "
    "/settings can make them wait until the end instead."
)
QUIET_SET_HOLD = N_(
    "Quiet hours are now {span} ({zone}): notifications wait until they end. "
    "/settings can let them arrive without a sound instead."
)
QUIET_CLEARED = N_("Quiet hours are off.")
ZONE_NOW = N_("Your time zone is {zone}. Send /timezone Europe/Berlin (or yours) to change it.")
ZONE_BAD = N_(
    "I do not know the time zone “{value}”. Use a name like Europe/Berlin or America/New_York."
)
ZONE_SET = N_("Your time zone is now {zone}.")
LANGUAGE_NOW = N_("I write to you in {language}. Others: {choices} (e.g. /language de).")
LANGUAGE_BAD = N_("I have no messages in “{value}” yet. I can write in: {choices}.")
LANGUAGE_SET = N_("From now on I write to you in {language}.")
IN_PRIVATE = N_("Settings are changed in your private chat with me: send /settings there.")
COMMANDS = ("settings", "quiet", "timezone", "language")
LANGUAGES_A_ROW = 4

Change = Callable[[Preferences], Preferences]
Save = Callable[[Change], Awaitable[Preferences]]  # store a change for the user replied to


class ChatPreferences:
    """/settings, /quiet, /timezone and the taps on their buttons and on mute buttons."""

    def __init__(
        self,
        store: PreferenceStore,
        categories: Iterable[Category],
        digest_windows: Mapping[str, int],
        *,
        later: bool = True,
        languages: Iterable[str] = (),
        default_language: str = "en",
    ) -> None:
        self.store = store
        # What /language offers: the catalogs' languages, then the templates' others (a user
        # may read notifications in French while the bot's own replies stay in English).
        self._languages = (*LANGUAGES, *sorted(set(languages) - set(LANGUAGES)))
        self._default_language = default_language  # a category label's, after the user's
        self._categories = {category.name: category for category in categories}
        self._windows = dict(digest_windows)
        # Without a stream nothing can be kept for later: no digests, no waiting quiet hours.
        self._later = later
        self._changing: dict[int, asyncio.Lock] = {}

    def register(self, application: Application) -> None:  # type: ignore[type-arg]
        # The preferences are the user's, for all their chats: changed in their private chat
        # only, never by whoever else is in a group or channel linked to them.
        private = filters.ChatType.PRIVATE
        application.add_handler(CommandHandler("settings", self.settings, filters=private))
        application.add_handler(CommandHandler("quiet", self.quiet, filters=private))
        application.add_handler(CommandHandler("timezone", self.timezone, filters=private))
        application.add_handler(CommandHandler("language", self.language, filters=private))
        application.add_handler(
            CommandHandler(list(COMMANDS), self.elsewhere, filters=filters.ChatType.GROUPS)
        )
        application.add_handler(CallbackQueryHandler(self.tapped, pattern=f"^{SETTINGS_PREFIX}"))
        application.add_handler(CallbackQueryHandler(self.muted, pattern=f"^{MUTE_PREFIX}"))

    async def elsewhere(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """/settings and the like in a group: they are for the private chat."""
        if update.effective_message is None:
            return
        language = pick(update.effective_user.language_code if update.effective_user else None)
        await update.effective_message.reply_text(gettext(language, IN_PRIVATE))

    async def settings(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message, chat = update.effective_message, update.effective_chat
        if message is None or chat is None:
            return
        user_id, preferences = await self.store.for_chat(chat.id)
        language = _language(update, preferences)
        if user_id is None:
            await message.reply_text(gettext(language, NOT_LINKED))
            return
        text, keyboard = self._view(preferences, language, _telegram_language(update))
        await message.reply_text(text, reply_markup=keyboard)

    async def quiet(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/quiet 22:00-07:00, /quiet off, or /quiet alone: how to."""
        argument = " ".join(context.args or []).strip()

        def change(preferences: Preferences) -> Preferences:
            if argument.lower() in ("off", "aus"):
                return preferences.model_copy(update={"quiet": None})
            span = str(QuietHours.parse(argument))  # ValueError: answered below
            return preferences.model_copy(update={"quiet": span})

        async def answer(preferences: Preferences, language: str, save: Save) -> str:
            zone = preferences.timezone or "UTC"
            if not argument:
                return gettext(language, QUIET_USAGE).format(zone=zone)
            try:
                changed = await save(change)
            except ValueError:
                return gettext(language, QUIET_BAD).format(value=argument[:40])
            if changed.quiet is None:
                return gettext(language, QUIET_CLEARED)
            form = QUIET_SET_HOLD if changed.quiet_mode == "hold" and self._later else QUIET_SET
            return gettext(language, form).format(span=changed.quiet, zone=zone)

        await self._reply(update, answer)

    async def timezone(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/timezone Europe/Berlin, or /timezone alone: the one in use."""
        argument = " ".join(context.args or []).strip()

        def change(preferences: Preferences) -> Preferences:
            zone_of(argument)  # ValueError: answered below
            return preferences.model_copy(update={"timezone": argument})

        async def answer(preferences: Preferences, language: str, save: Save) -> str:
            if not argument:
                return gettext(language, ZONE_NOW).format(zone=preferences.timezone or "UTC")
            try:
                changed = await save(change)
            except ValueError:
                return gettext(language, ZONE_BAD).format(value=argument[:60])
            return gettext(language, ZONE_SET).format(zone=changed.timezone)

        await self._reply(update, answer)

    async def language(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/language de, or /language alone: the one in use and the others."""
        argument = " ".join(context.args or []).strip().lower()
        choices = ", ".join(f"{language_name(code)} ({code})" for code in self._languages)

        async def answer(preferences: Preferences, language: str, save: Save) -> str:
            if not argument:
                name = language_name(preferences.language or language)
                return gettext(language, LANGUAGE_NOW).format(language=name, choices=choices)
            if argument not in self._languages:
                return gettext(language, LANGUAGE_BAD).format(value=argument[:20], choices=choices)
            await save(lambda current: current.model_copy(update={"language": argument}))
            # The reply in it if the bot has its messages, else in the language it replies in.
            reply_in = argument if argument in LANGUAGES else language
            return gettext(reply_in, LANGUAGE_SET).format(language=language_name(argument))

        await self._reply(update, answer)

    async def tapped(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A /settings button: change what it says, then show the message again, edited."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        if _elsewhere(update):  # /settings is only ever shown there: forged data
            await _answer(query.answer(gettext(_language(update, Preferences()), IN_PRIVATE)))
            return
        what, _, argument = query.data.removeprefix(SETTINGS_PREFIX).partition(":")
        user_id, preferences = await self.store.for_chat(_chat_id(update))
        language = _language(update, preferences)
        if user_id is None:
            await _answer(query.answer(gettext(language, NOT_LINKED)))
            return
        category = self._categories.get(argument)
        if what == "x" and category is not None:
            label = self._label(category, preferences, _telegram_language(update))
            toast = gettext(language, ALWAYS).format(label=label)
            await _answer(query.answer(toast, show_alert=True))
            return
        change = self._toggle(what, argument, preferences)
        if change is None:
            await _answer(query.answer(gettext(language, GONE)))
            return
        # Taps are handled side by side: one at a time per chat, so the edits cannot cross
        # and the message shows the last change. (A lock per chat that ever tapped: small.)
        async with self._changing.setdefault(_chat_id(update), asyncio.Lock()):
            changed = await self.store.update(user_id, change)
            log.info("preferences_changed", user_id=user_id, by="settings", setting=what)
            language = _language(update, changed)
            await _answer(query.answer(gettext(language, SAVED)))
            if isinstance(query.message, Message):
                await _show(
                    query.message, *self._view(changed, language, _telegram_language(update))
                )

    async def muted(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """The mute button under a notification: one tap turns its category off."""
        query = update.callback_query
        if query is None or query.data is None:
            return
        category = self._categories.get(query.data.removeprefix(MUTE_PREFIX))
        if _elsewhere(update):  # no mute button is sent there
            await _answer(query.answer(gettext(_language(update, Preferences()), IN_PRIVATE)))
            return
        user_id, preferences = await self.store.for_chat(_chat_id(update))
        language = _language(update, preferences)
        if user_id is None:
            await _answer(query.answer(gettext(language, NOT_LINKED)))
            return
        if category is None or not category.mutable:
            await _answer(query.answer(gettext(language, GONE)))
            return
        name = category.name
        await self.store.update(
            user_id, lambda current: current.model_copy(update={"muted": current.muted | {name}})
        )
        log.info("preferences_changed", user_id=user_id, by="mute_button", setting="m")
        label = self._label(category, preferences, _telegram_language(update))
        toast = gettext(language, TURNED_OFF).format(label=label)
        await _answer(query.answer(toast, show_alert=True))

    def _toggle(self, what: str, argument: str, preferences: Preferences) -> Change | None:
        """The change a button makes; None if it offers something no longer there (a category
        dropped from CATEGORIES since the message was sent)."""
        category = self._categories.get(argument)
        if what == "m" and category is not None and category.mutable:
            name = category.name
            return lambda current: current.model_copy(update={"muted": current.muted ^ {name}})
        if what == "d" and category is not None and category.mutable and self._later:
            name = category.name
            defaults = self._windows
            return lambda current: current.model_copy(
                update={"digest": current.digested(defaults) ^ {name}}
            )
        if what == "q" and preferences.quiet is not None and self._later:
            return lambda current: current.model_copy(
                update={"quiet_mode": "silent" if current.quiet_mode == "hold" else "hold"}
            )
        if what == "l" and argument in self._languages:
            return lambda current: current.model_copy(update={"language": argument})
        return None

    def _label(self, category: Category, preferences: Preferences, telegram: str | None) -> str:
        """A category's label as its notifications' mute button shows it to this user."""
        return category.label_in(preferences.language, telegram, self._default_language)

    def _view(
        self, preferences: Preferences, language: str, telegram: str | None
    ) -> tuple[str, InlineKeyboardMarkup]:
        """The /settings message: what is chosen, and a button for each thing to change."""
        zone = preferences.timezone or "UTC"
        if preferences.quiet is None:
            quiet = gettext(language, QUIET_OFF)
        else:
            form = QUIET_HOLD if preferences.quiet_mode == "hold" and self._later else QUIET_SILENT
            quiet = gettext(language, form).format(span=preferences.quiet, zone=zone)
        lines = [
            gettext(language, TITLE),
            quiet,
            gettext(language, LANGUAGE).format(
                language=language_name(preferences.language or language)
            ),
        ]
        rows: list[list[InlineKeyboardButton]] = []
        chosen = preferences.language or language
        digested = preferences.digested(self._windows)
        for category in self._categories.values():
            if not category.mutable:
                label = self._label(category, preferences, telegram)
                rows.append([_button(f"🔒 {label}", "x", category.name)])
                continue
            on = category.name not in preferences.muted
            label = self._label(category, preferences, telegram)
            row = [_button(f"{'✅' if on else '🔕'} {label}", "m", category.name)]
            if self._later:
                label = DIGEST_ON if category.name in digested else DIGEST_OFF
                row.append(_button(gettext(language, label), "d", category.name))
            rows.append(row)
        if preferences.quiet is not None and self._later:
            mode = MODE_HOLD if preferences.quiet_mode == "hold" else MODE_SILENT
            rows.append([_button(gettext(language, mode), "q")])
        languages = [
            _button(f"{'● ' if code == chosen else ''}{language_name(code)}", "l", code)
            for code in self._languages
        ]
        # Four a row: templates may bring many languages, and a row of ten is unreadable.
        step = LANGUAGES_A_ROW
        rows += [languages[at : at + step] for at in range(0, len(languages), step)]
        return "\n\n".join(lines), InlineKeyboardMarkup(rows)

    async def _reply(
        self, update: Update, answer: Callable[[Preferences, str, Save], Awaitable[str]]
    ) -> None:
        """Reply to a command with what `answer` says, in the user's language; a chat that is
        not linked is told so instead."""
        message = update.effective_message
        if message is None:
            return
        user_id, preferences = await self.store.for_chat(_chat_id(update))
        language = _language(update, preferences)
        if user_id is None:
            await message.reply_text(gettext(language, NOT_LINKED))
            return
        linked: int = user_id  # read once, with the preferences the answer starts from

        async def save(change: Change) -> Preferences:
            changed = await self.store.update(linked, change)
            log.info("preferences_changed", user_id=linked, by="command")
            return changed

        await message.reply_text(await answer(preferences, language, save))


async def _show(message: Message, text: str, keyboard: InlineKeyboardMarkup) -> None:
    """Edit the /settings message to show `text` and `keyboard`."""
    try:
        await message.edit_text(text, reply_markup=keyboard)
    except BadRequest as exc:  # the state shown already (a tap Telegram sent twice)
        if "not modified" not in exc.message:
            raise


def _button(text: str, what: str, argument: str = "") -> InlineKeyboardButton:
    data = f"{SETTINGS_PREFIX}{what}" + (f":{argument}" if argument else "")
    return InlineKeyboardButton(text, callback_data=data)


def _chat_id(update: Update) -> int:
    chat = update.effective_chat
    return chat.id if chat is not None else 0


def _elsewhere(update: Update) -> bool:
    """Whether a tap came from a chat other than a private one, where the user's preferences
    are not changed (anyone in a group or channel could tap)."""
    chat = update.effective_chat
    return chat is not None and chat.type != Chat.PRIVATE


def _telegram_language(update: Update) -> str | None:
    user = update.effective_user
    return user.language_code if user is not None else None


def _language(update: Update, preferences: Preferences) -> str:
    """The reply's language: the user's pick (read with the preferences), else Telegram's."""
    user = update.effective_user
    return pick(user.language_code if user is not None else None, preferences.language)


async def _answer(answering: Awaitable[bool]) -> None:
    """Answer a callback query; too late (Telegram allows a short while) is only logged."""
    try:
        await answering
    except TelegramError as exc:
        log.warning("callback_answer_failed", error=exc.message)
