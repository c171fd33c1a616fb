"""Chat users get their replies in their language: the catalogs hold every message the code
marks, a language is picked from the user's choice or Telegram's language_code, and the bot
answers (and sets its menu) in German for a German Telegram, in English otherwise."""

from __future__ import annotations

import asyncio
import io
import shlex
import shutil
import string
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis.asyncio
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po
from redis.exceptions import ConnectionError as RedisConnectionError
from structlog.testing import capture_logs
from telegram import Chat, Update, User
from telegram import Message as TelegramMessage

from bot.chat import i18n
from bot.chat.actions import EXPIRED
from bot.chat.i18n import LANGUAGE_NAMES, LANGUAGES, N_, NP_, gettext, language_of, pick
from bot.chat.linking import BAD_LINK, HOW_TO_LINK, LINKED, NOT_LINKED, UNLINKED
from bot.chat.menus import PUBLIC_COMMANDS
from bot.chat.throttle import SLOW_DOWN
from bot.chat.user import HELP
from bot.config.settings import Settings
from bot.publisher import AsyncPublisher
from bot.testing import FakeTelegram
from tests.bots import RunningBot, start_bot
from tests.helpers import token_of, wait_sent

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "bot" / "locale"
# docs/reference/commands.md, Languages: the test runs this very command, writing elsewhere.
EXTRACT = (
    "pybabel extract -F babel.cfg --no-default-keywords -k N_ -k NP_:1,2 -c Translators: "
    "--project=notify-bot -o bot/locale/messages.pot bot"
)


def run_extract(cwd: Path, template: Path) -> Catalog:
    """The documented extraction, run in `cwd`, into `template`; the template read back."""
    args = shlex.split(EXTRACT)[1:]
    args[args.index("-o") + 1] = str(template)
    subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "-q", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )
    return read_catalog(template)


def read_catalog(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language)


def fields(text: str) -> set[str]:
    """The str.format fields of `text`: "{start}-{end}" -> {"start", "end"}."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def forms(value: str | tuple[str, ...] | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> list[Message]:
    template = tmp_path_factory.mktemp("extract") / "messages.pot"
    return [m for m in run_extract(ROOT, template) if m.id]


# -- the catalogs ---------------------------------------------------------------------------


def test_the_readme_gives_the_extraction_command_this_test_runs() -> None:
    assert f".venv/bin/{EXTRACT}" in (ROOT / "docs" / "reference" / "commands.md").read_text()


def test_extraction_finds_the_marked_replies(extracted: list[Message]) -> None:
    ids = {m.id for m in extracted}
    assert {HELP, LINKED, SLOW_DOWN} <= ids  # the walk works: it would pass vacuously
    assert {c.description for c in PUBLIC_COMMANDS} <= ids


def test_the_template_is_current(extracted: list[Message]) -> None:
    """bot/locale/messages.pot is what the extraction makes now (docs: commands, Languages)."""
    shipped = {m.id for m in read_catalog(LOCALE / "messages.pot") if m.id}
    assert sorted(map(str, {m.id for m in extracted} - shipped)) == [], "run pybabel extract"
    assert sorted(map(str, shipped - {m.id for m in extracted})) == [], "run pybabel extract"


def test_a_catalog_ships_for_each_language_and_only_for_those() -> None:
    shipped = {p.parent.parent.name for p in LOCALE.glob("*/LC_MESSAGES/messages.po")}
    assert shipped == set(LANGUAGES)
    assert LANGUAGES[0] == "en"
    assert set(LANGUAGE_NAMES) == set(LANGUAGES)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_catalog_translates_every_message_with_the_same_fields(
    language: str, extracted: list[Message]
) -> None:
    catalog = read_catalog(LOCALE / language / "LC_MESSAGES" / "messages.po", language)
    problems = []
    for message in extracted:
        found = catalog.get(message.id)
        if found is None:
            problems.append(f"missing: {message.id!r}")
            continue
        translations = forms(found.string or "")
        expected = set().union(*(fields(text) for text in forms(message.id)))
        if found.fuzzy:
            problems.append(f"fuzzy: {message.id!r}")
        elif not all(translations):
            problems.append(f"not translated: {message.id!r}")
        elif message.pluralizable and len(translations) != catalog.num_plurals:
            problems.append(f"{len(translations)} plural forms of {catalog.num_plurals}")
        elif message.pluralizable:
            # A form may leave out the count ("One notification"), never add a field.
            used = [fields(text) for text in translations]
            if not all(u <= expected for u in used) or set().union(*used) != expected:
                problems.append(f"fields {used} vs {expected}: {message.id!r}")
        elif fields(translations[0]) != expected:
            problems.append(f"fields {fields(translations[0])} vs {expected}: {message.id!r}")
    assert problems == []


def test_the_plural_marker_is_extracted_as_one_message_with_its_plural(tmp_path: Path) -> None:
    (tmp_path / "bot").mkdir()
    shutil.copy(ROOT / "babel.cfg", tmp_path / "babel.cfg")
    (tmp_path / "bot" / "sample.py").write_text(
        "from bot.chat.i18n import N_, NP_\n"
        'HELD = NP_("{n} notification waits", "{n} notifications wait")\n'
        'PLAIN = N_("Plain")\n'
        'NOT_MARKED = gettext("de", "Not marked")\n'
    )
    catalog = run_extract(tmp_path, tmp_path / "out.pot")
    assert [m.id for m in catalog if m.id] == [
        ("{n} notification waits", "{n} notifications wait"),
        "Plain",
    ]


# -- translating ----------------------------------------------------------------------------

PO_WITH_PLURALS = """\
msgid ""
msgstr ""
"Content-Type: text/plain; charset=utf-8\\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\\n"

msgid "{n} notification waits"
msgid_plural "{n} notifications wait"
msgstr[0] "{n} Benachrichtigung wartet"
msgstr[1] "{n} Benachrichtigungen warten"

#, fuzzy
msgid "Unsure"
msgstr "Unsicher"
"""


def test_a_catalog_is_compiled_in_memory_with_plurals_and_without_fuzzy_entries() -> None:
    catalog = i18n.translations_from_po(io.BytesIO(PO_WITH_PLURALS.encode()), "de")
    held = NP_("{n} notification waits", "{n} notifications wait")
    assert catalog.ngettext(*held, 1).format(n=1) == "1 Benachrichtigung wartet"
    assert catalog.ngettext(*held, 3).format(n=3) == "3 Benachrichtigungen warten"
    assert catalog.gettext("Unsure") == "Unsure"  # a fuzzy guess is no translation


def test_messages_are_translated_at_reply_time_and_english_is_the_msgid() -> None:
    assert N_("Plain") == "Plain"
    assert gettext("en", LINKED) == LINKED
    german = gettext("de", LINKED)
    assert german != LINKED
    assert "/stop" in german  # commands stay untranslated
    assert gettext("de", "Not in any catalog") == "Not in any catalog"
    assert gettext("xx", LINKED) == LINKED  # no catalog: English
    assert i18n.ngettext("en", "{n} day", "{n} days", 2) == "{n} days"


@pytest.mark.parametrize(
    ("language_code", "chosen", "expected"),
    [
        ("de", None, "de"),
        ("de-AT", None, "de"),
        ("DE_ch", None, "de"),
        ("fr", None, "en"),
        ("pt-BR", None, "en"),
        (None, None, "en"),
        ("", None, "en"),
        ("de", "en", "en"),  # the user's pick wins over Telegram's
        ("en", "de", "de"),
        ("de", "fr", "de"),  # a pick without a catalog: Telegram's
        (None, "xx", "en"),
    ],
)
def test_pick(language_code: str | None, chosen: str | None, expected: str) -> None:
    assert pick(language_code, chosen) == expected


def an_update(language_code: str | None, chat_id: int = 77) -> Update:
    user = User(chat_id, "Test", is_bot=False, language_code=language_code)
    chat = Chat(chat_id, Chat.PRIVATE)
    message = TelegramMessage(1, datetime.now(UTC), chat, from_user=user, text="/help")
    return Update(1, message=message)


async def test_the_users_pick_is_read_for_the_chat_and_wins() -> None:
    asked: list[int] = []

    async def chosen(chat_id: int) -> str | None:
        asked.append(chat_id)
        return "en"

    assert await language_of(an_update("de-AT"), chosen) == "en"
    assert asked == [77]
    assert await language_of(an_update("de-AT"), None) == "de"


async def test_a_redis_error_while_reading_the_pick_falls_back_to_telegrams_language() -> None:
    async def unreachable(_chat_id: int) -> str | None:
        raise RedisConnectionError("Connection refused")

    with capture_logs() as logs:
        assert await language_of(an_update("de"), unreachable) == "de"
    [event] = [e for e in logs if e["event"] == "chosen_language_unavailable"]
    assert event["chat_id"] == 77


# -- end to end -----------------------------------------------------------------------------


@pytest.fixture
def german() -> None:
    """The tests below are meaningful only while German differs from English."""
    assert gettext("de", HELP) != HELP
    assert gettext("de", EXPIRED) != EXPIRED


@pytest.mark.usefixtures("german")
async def test_a_german_telegram_gets_german_replies(
    running_bot: RunningBot, telegram: FakeTelegram
) -> None:
    chat = 5101
    for text in ("/help", "/start", "/start made-up-token", "/stop"):
        telegram.user_says(chat, text, language_code="de")
    replies = [m.text for m in await wait_sent(telegram, chat_id=chat, count=4)]
    expected = [gettext("de", text) for text in (HELP, HOW_TO_LINK, BAD_LINK, NOT_LINKED)]
    assert sorted(replies) == sorted(expected)  # handled side by side: any order


@pytest.mark.usefixtures("german")
async def test_linking_and_unlinking_are_confirmed_in_german(
    running_bot: RunningBot, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    chat = 5102
    link = await AsyncPublisher(redis_client).create_link(42)
    telegram.user_says(chat, f"/start {token_of(link)}", language_code="de")
    [linked] = await wait_sent(telegram, chat_id=chat)
    assert linked.text == gettext("de", LINKED)
    telegram.user_says(chat, "/stop", language_code="de")
    [_, unlinked] = await wait_sent(telegram, chat_id=chat, count=2)
    assert unlinked.text == gettext("de", UNLINKED)


@pytest.mark.parametrize(
    ("language_code", "language"),
    [("de-AT", "de"), ("fr", "en"), (None, "en"), ("en-GB", "en")],
)
@pytest.mark.usefixtures("german")
async def test_a_regional_tag_counts_by_its_language_and_others_get_english(
    running_bot: RunningBot, telegram: FakeTelegram, language_code: str | None, language: str
) -> None:
    telegram.user_says(5103, "/help", language_code=language_code)
    [reply] = await wait_sent(telegram, chat_id=5103)
    assert reply.text == gettext(language, HELP)


@pytest.mark.usefixtures("german")
async def test_the_toast_after_a_tap_is_in_german(
    running_bot: RunningBot, telegram: FakeTelegram
) -> None:
    telegram.user_says(5104, "/help", language_code="de")
    [reply] = await wait_sent(telegram, chat_id=5104)
    # A button of a notification that no longer exists (its key unknown).
    query = telegram.tap(5104, reply.message_id, data="a:AAAAAAAAAAAA:0", language_code="de")
    answer = await asyncio.to_thread(telegram.wait_for_answer, query)
    assert answer.get("text") == gettext("de", EXPIRED)


@pytest.mark.usefixtures("german")
async def test_slow_down_is_said_in_german(
    telegram: FakeTelegram, redis_client: redis.asyncio.Redis, settings: Settings
) -> None:
    running = await start_bot(
        settings.model_copy(update={"command_burst": 1, "command_per_minute": 1})
    )
    try:
        telegram.user_says(5105, "/help", language_code="de")
        telegram.user_says(5105, "/help", language_code="de")
        replies = {m.text for m in await wait_sent(telegram, chat_id=5105, count=2)}
    finally:
        await running.shutdown()
    assert replies == {gettext("de", HELP), gettext("de", SLOW_DOWN)}


@pytest.mark.usefixtures("german")
async def test_the_menu_is_set_in_english_and_in_german(
    running_bot: RunningBot, telegram: FakeTelegram
) -> None:
    english = [{"command": c.command, "description": c.description} for c in PUBLIC_COMMANDS]
    german = [
        {"command": c.command, "description": gettext("de", c.description)} for c in PUBLIC_COMMANDS
    ]
    assert german != english
    assert {"settings", "quiet", "timezone"} <= {c["command"] for c in english}
    assert telegram.commands_for() == english
    assert telegram.commands_for(language_code="de") == german
    assert telegram.menu_seen(5106, "de-AT") == german
    assert telegram.menu_seen(5106, "fr") == english
    assert telegram.menu_seen(5106) == english
