"""The preferences model and the rule that decides from it, without Redis or Telegram."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from bot.pipeline.digest import digest_text
from bot.preferences import (
    Category,
    Decision,
    Preferences,
    QuietHours,
    decide,
    parse_categories,
    parse_digest,
)

NEWS, ORDERS = Category("news", "News"), Category("orders", "Orders")
SECURITY = Category("security", "Security", mutable=False)
HIGH, NORMAL, BULK = 0, 1, 2
BERLIN = ZoneInfo("Europe/Berlin")


def at(hour: int, minute: int = 0, *, zone: ZoneInfo = BERLIN, day: int = 1) -> float:
    return datetime(2026, 12, day, hour, minute, tzinfo=zone).timestamp()


def test_categories_parse_with_labels_and_the_mark_of_those_that_cannot_be_muted() -> None:
    parsed = parse_categories("orders:Order updates, news:News and offers,security:Alerts!")
    assert parsed == (
        Category("orders", "Order updates"),
        Category("news", "News and offers"),
        Category("security", "Alerts", mutable=False),
    )
    assert parse_categories("") == ()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("orders", "item 1 ('orders') needs a label"),
        ("orders:", "item 1 ('orders') needs a label"),
        ("a:A,,b:B", "item 2 is empty"),
        ("Orders:X", "'Orders' is not a category name"),
        ("a:A,a:B", "'a' is declared twice"),
        ("news:!", "needs a label"),
    ],
)
def test_malformed_categories_name_the_item(text: str, error: str) -> None:
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        parse_categories(text)


def test_digest_windows_parse_and_bad_ones_are_refused() -> None:
    assert parse_digest("news:3600, orders:600") == {"news": 3600, "orders": 600}
    with pytest.raises(ValueError, match="not category:seconds"):
        parse_digest("news")
    with pytest.raises(ValueError, match="outside 60-604800"):
        parse_digest("news:10")


def test_quiet_hours_across_midnight_and_within_a_day() -> None:
    night = QuietHours.parse("22:00-07:00")
    assert night.ends_after(datetime(2026, 12, 1, 23, 30, tzinfo=BERLIN)) == datetime(
        2026, 12, 2, 7, 0, tzinfo=BERLIN
    )
    assert night.ends_after(datetime(2026, 12, 2, 6, 59, tzinfo=BERLIN)) == datetime(
        2026, 12, 2, 7, 0, tzinfo=BERLIN
    )
    assert night.ends_after(datetime(2026, 12, 2, 7, 0, tzinfo=BERLIN)) is None
    assert night.ends_after(datetime(2026, 12, 1, 21, 59, tzinfo=BERLIN)) is None
    lunch = QuietHours.parse("12:00-13:30")
    assert lunch.ends_after(datetime(2026, 12, 1, 12, 45, tzinfo=BERLIN)) is not None
    assert lunch.ends_after(datetime(2026, 12, 1, 13, 30, tzinfo=BERLIN)) is None


def test_quiet_hours_end_at_the_right_instant_across_a_clock_change() -> None:
    """Europe/Berlin moves from +02:00 to +01:00 in the night of 25 October 2026: 07:00 that
    morning is 06:00 UTC, not 05:00."""
    end = QuietHours.parse("22:00-07:00").ends_after(datetime(2026, 10, 24, 23, tzinfo=BERLIN))
    assert end is not None
    assert end.astimezone(UTC) == datetime(2026, 10, 25, 6, 0, tzinfo=UTC)


def test_quiet_hours_in_the_repeated_hour_of_a_clock_change_end_after_now() -> None:
    """02:30 happens twice in Europe/Berlin on 25 October 2026; in the second one (after the
    clock went back), quiet hours 01:00-02:45 end 15 minutes later, not before now."""
    second = datetime(2026, 10, 25, 2, 30, tzinfo=BERLIN, fold=1)
    end = QuietHours.parse("01:00-02:45").ends_after(second)
    assert end is not None
    assert end.astimezone(UTC) == datetime(2026, 10, 25, 1, 45, tzinfo=UTC)


@pytest.mark.parametrize("text", ["25:00-07:00", "22:00", "22:00-22:00", "9:00-10:00", ""])
def test_quiet_hours_that_are_not_a_span_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"HH:MM|different times"):
        QuietHours.parse(text)


def test_preferences_refuse_what_the_bot_could_not_follow() -> None:
    with pytest.raises(ValidationError, match="time zone"):
        Preferences(timezone="Mars/Olympus_Mons")
    with pytest.raises(ValidationError, match="not a language code"):
        Preferences(language="French")
    # Which languages there are is the bot's (catalogs and templates): checked against them.
    assert Preferences(language="fr").check_language(["en", "de", "fr"]).language == "fr"
    with pytest.raises(ValueError, match="no messages or templates in 'fr'"):
        Preferences(language="fr").check_language(["en", "de"])
    with pytest.raises(ValidationError, match="not a category name"):
        Preferences(muted=frozenset({"News!"}))
    with pytest.raises(ValueError, match="'sports' is not a declared category"):
        Preferences(muted=frozenset({"sports"})).check([NEWS])
    with pytest.raises(ValueError, match="'security' cannot be muted"):
        Preferences(muted=frozenset({"security"})).check([NEWS, SECURITY])


def test_muted_first_then_digest_then_quiet_hours() -> None:
    everything = Preferences(
        muted=frozenset({"news"}),
        digest=frozenset({"orders"}),
        quiet="22:00-07:00",
        timezone="Europe/Berlin",
    )
    night = at(23)

    def rule(category: Category | None, rank: int = NORMAL, *, released: bool = False) -> Decision:
        return decide(
            everything,
            category,
            rank=rank,
            digest_windows={"orders": 600},
            now=night,
            released=released,
        )

    assert rule(NEWS) == Decision("mute")
    assert rule(NEWS, HIGH) == Decision("mute")  # a muted category stays muted
    assert rule(ORDERS) == Decision("digest", window=600)
    assert rule(ORDERS, HIGH) == Decision()  # urgent: not digested, not silenced
    assert rule(None) == Decision(silent=True)
    assert rule(None, BULK) == Decision(silent=True)
    assert rule(SECURITY) == Decision()  # cannot be muted: with a sound
    assert rule(None, released=True) == Decision()  # held once already


def test_hold_until_the_end_in_the_users_zone_and_the_operators_digest_by_default() -> None:
    holding = Preferences(quiet="22:00-07:00", quiet_mode="hold", timezone="Europe/Berlin")
    decision = decide(holding, None, rank=NORMAL, digest_windows={}, now=at(23))
    assert decision == Decision("hold", until=at(7, day=2))
    assert decide(holding, None, rank=NORMAL, digest_windows={}, now=at(8)) == Decision()
    # Nothing chosen: DIGEST applies; a user who turned it off gets each one.
    assert decide(None, NEWS, rank=NORMAL, digest_windows={"news": 60}, now=at(8)).action == (
        "digest"
    )
    opted_out = Preferences(digest=frozenset())
    assert decide(opted_out, NEWS, rank=NORMAL, digest_windows={"news": 60}, now=at(8)) == (
        Decision()
    )


def test_a_digest_stays_within_one_message_and_counts_what_did_not_fit() -> None:
    lines = [f"Story {n}: " + "x" * 190 for n in range(40)]
    text, used = digest_text("News", lines)
    assert text.startswith("📬 News (40)\n• Story 0: ")
    assert len(text.encode("utf-16-le")) // 2 <= 4096
    assert 0 < used < 40
    assert text.endswith(f"… +{40 - used}")
    assert digest_text("News", ["a", "b"]) == ("📬 News (2)\n• a\n• b", 2)


def test_a_category_label_in_other_languages_comes_from_categories() -> None:
    [orders, news] = parse_categories("orders:Orders|de=Bestellungen|fr=Commandes!, news:News")
    assert (orders.label, orders.mutable) == ("Orders", False)
    assert orders.label_in(None, "de-AT", "en") == "Bestellungen"
    assert orders.label_in("fr") == "Commandes"
    assert orders.label_in("it", None) == "Orders"
    assert news.label_in("de") == "News"
    with pytest.raises(ValueError, match=r"item 1 \('orders'\): 'German' is not language=Label"):
        parse_categories("orders:Orders|German")
