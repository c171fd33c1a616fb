"""Rendering: values land literally in every format, filters speak the reader's language and
time zone, and a template cannot render half or run away."""

from __future__ import annotations

import time

import pytest

from bot.templates.render import RenderError
from tests.templates.conftest import MakeTemplating, prepared

HOSTILE = "<b>bold</b> & *star* _under_ `tick` [x](tg://proxy?server=evil) \\ &amp;"


@pytest.mark.parametrize(
    ("kind", "message", "bold_entity"),
    [
        ("html", "<b>Hi</b> {{ name }} <code>{{ name }}</code>", ("bold", 0, 2)),
        ("markdown", "**Hi** {{ name }} `{{ name }}`", ("bold", 0, 2)),
        ("text", "Hi {{ name }} {{ name }}", None),
    ],
)
def test_values_arrive_literally_in_every_format_code_spans_included(
    make_templating: MakeTemplating, kind: str, message: str, bold_entity: tuple[int, ...] | None
) -> None:
    templating = make_templating(
        {"t.toml": f'format = "{kind}"\n[en]\nmessage = """{message}"""\n'}
    )
    parsed, _ = templating.for_reader(
        prepared(templating, "t", {"name": HOSTILE}), None, None, None
    )

    assert parsed.formatted.text == f"Hi {HOSTILE} {HOSTILE}"
    entities = [(e.type, e.offset, e.length) for e in parsed.formatted.entities]
    if bold_entity is None:
        assert entities == []
    else:
        # The template's markup made these, and nothing in the value did (no link, no italic).
        second = 3 + len(HOSTILE) + 1
        assert entities == [bold_entity, ("code", second, len(HOSTILE))]


def test_entities_move_with_values_counted_in_utf16(make_templating: MakeTemplating) -> None:
    templating = make_templating(
        {"t.toml": 'format = "html"\n[en]\nmessage = "{{ a }} <i>{{ b }}</i> <b>end</b>"\n'}
    )
    parsed, _ = templating.for_reader(
        prepared(templating, "t", {"a": "😀😀", "b": "ß"}), None, None, None
    )
    assert parsed.formatted.text == "😀😀 ß end"
    # Each emoji is two UTF-16 units, as Telegram counts.
    assert [(e.type, e.offset, e.length) for e in parsed.formatted.entities] == [
        ("italic", 5, 1),
        ("bold", 7, 3),
    ]


def test_a_value_in_a_url_is_percent_encoded_and_cannot_change_the_host(
    make_templating: MakeTemplating,
) -> None:
    templating = make_templating(
        {
            "t.toml": 'format = "html"\n[en]\n'
            "message = '<a href=\"https://shop.example/t/{{ q }}\">Track</a>'\n"
            'buttons = [[{ text = "Open {{ q }}", url = "https://shop.example/o?id={{ q }}" }]]\n'
        }
    )
    parsed, _ = templating.for_reader(
        prepared(templating, "t", {"q": "1/../@evil.example?x=1&y"}), None, None, None
    )
    [link] = parsed.formatted.entities
    assert link.url == "https://shop.example/t/1%2F..%2F%40evil.example%3Fx%3D1%26y"
    [[button]] = parsed.notification.buttons or []
    assert button.url == "https://shop.example/o?id=1%2F..%2F%40evil.example%3Fx%3D1%26y"
    assert button.text == "Open 1/../@evil.example?x=1&y"  # a label is shown as it is


def test_dates_times_numbers_and_money_in_the_readers_language_and_time_zone(
    make_templating: MakeTemplating,
) -> None:
    source = "{{ at | date }} {{ at | time }} {{ amount | number }} {{ amount | currency('EUR') }}"
    templating = make_templating(
        {"t.toml": f'[en]\nmessage = "{source}"\n[de]\nmessage = "{source}"\n'}
    )
    data = {"at": "2026-03-01T23:30:00Z", "amount": 1234.5}
    parsed = prepared(templating, "t", data)

    german, language = templating.for_reader(parsed, None, "de-AT", "Europe/Berlin")
    assert language == "de"
    # 23:30 UTC is already the next day in Berlin.
    assert german.formatted.text == "02.03.2026 00:30 1.234,5 1.234,50\xa0€"
    english, _ = templating.for_reader(parsed, None, "en", None)
    assert english.formatted.text == "Mar 1, 2026 11:30\u202fPM 1,234.5 €1,234.50"


def test_the_language_is_the_users_pick_then_telegrams_then_the_default_then_the_first(
    make_templating: MakeTemplating,
) -> None:
    templating = make_templating(
        {"t.toml": '[fr]\nmessage = "Bonjour"\n[de]\nmessage = "Hallo"\n[en]\nmessage = "Hi"\n'},
        default_language="de",
    )
    parsed = prepared(templating, "t", {})
    assert templating.for_reader(parsed, "en", "fr-CA", None)[1] == "en"  # the pick
    assert templating.for_reader(parsed, None, "fr-CA", None)[1] == "fr"  # Telegram's
    assert templating.for_reader(parsed, None, "ja", None)[1] == "de"  # DEFAULT_LANGUAGE
    only = make_templating({"only.toml": '[fr]\nmessage = "Bonjour"\n[it]\nmessage = "Ciao"\n'})
    assert only.for_reader(prepared(only, "only", {}), None, "ja", None)[1] == "fr"  # the first


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        ({"order": 17}, "data.eta: missing"),
        ({"order": 17, "eta": "next week"}, "data.eta: expected a date"),
        ({"order": 17, "eta": True}, "data.eta: expected a date"),
        ({"order": 17, "eta": "2026-12-24", "extra": {"x": 1}}, None),
    ],
)
def test_a_missing_value_or_one_of_the_wrong_type_is_named(
    make_templating: MakeTemplating, data: dict[str, object], reason: str | None
) -> None:
    templating = make_templating({"t.toml": '[en]\nmessage = "{{ order }}: {{ eta | date }}"\n'})
    if reason == "data.eta: missing":
        with pytest.raises(ValueError, match=reason):
            prepared(templating, "t", data)
        return
    parsed = prepared(templating, "t", data)
    if reason is None:
        assert (
            templating.for_reader(parsed, None, None, None)[0].formatted.text == "17: Dec 24, 2026"
        )
        return
    with pytest.raises(RenderError, match=reason):
        templating.for_reader(parsed, None, None, None)


def test_an_unknown_template_is_named_with_those_there_are(make_templating: MakeTemplating) -> None:
    templating = make_templating({"a.toml": '[en]\nmessage = "x"\n'})
    with pytest.raises(ValueError, match=r"template: 'b' is not one of this bot's: a"):
        prepared(templating, "b", {})


@pytest.mark.parametrize(
    ("message", "data", "reason"),
    [
        # Nested loops over data: 4,000 x 4,000 turns would take seconds.
        (
            "{% for a in xs %}{% for b in xs %}{% endfor %}{% endfor %}x",
            {"xs": [0] * 4000},
            "steps|took over",  # whichever comes first: both are the budget
        ),
        ("{{ n ** 99999999 }}", {"n": 9}, "exponent"),
        ("{{ s * 1000000 }}", {"s": "xxxxxxxx"}, "over MESSAGE_MAX_CHARS"),
        ("{% for i in range(99999) %}{% endfor %}", {}, "a range of 99999"),
        ("{% for i in range(9999) %}{{ s }}{% endfor %}", {"s": "y" * 1000}, "characters"),
        # One expression that does much: each item a filter goes through is a step.
        ("{{ range(20000)|map('string')|join|length }}", {}, "steps|took over"),
        # A string doubling itself, and methods that grow a value in one call.
        ("{{ s ~ s }}", {"s": "ab" * 1500}, "6000 long"),
        ("{{ s.zfill(999999999) }}", {"s": "x"}, r"zfill\(999999999\)"),
        ("{{ s.replace('', s) }}", {"s": "y" * 5000}, "long"),
        ("{{ s|replace('y', s) }}", {"s": "y" * 5000}, "long"),
        ("{{ '{:>999999999}'.format(s) }}", {"s": "x"}, "str.format"),
        ("{{ x|number(20000000) }}", {"x": 1}, "decimals from 0 to 20"),
    ],
)
def test_a_runaway_template_stops_at_its_budget_quickly(
    make_templating: MakeTemplating, message: str, data: dict[str, object], reason: str
) -> None:
    templating = make_templating({"t.toml": f"[en]\nmessage = '''{message}'''\n"})
    parsed = prepared(templating, "t", data)
    started = time.perf_counter()
    with pytest.raises(RenderError, match=reason):
        templating.for_reader(parsed, None, None, None)
    # Not a timing test: the budget is 4 ms; this only shows it was not seconds.
    assert time.perf_counter() - started < 1.0


def test_a_template_of_2000_variables_is_refused_at_once_or_renders_within_its_budget(
    make_templating: MakeTemplating,
) -> None:
    distinct = " ".join(f"{{{{ v{n} }}}}" for n in range(2000))
    repeated = " ".join(f"{{{{ v{n % 100} }}}}" for n in range(2000))
    templating = make_templating(
        {
            "distinct.toml": f"[en]\nmessage = '''{distinct}'''\n",
            "repeated.toml": f"[en]\nmessage = '''{repeated}'''\n",
        },
        max_chars=32_768,
    )
    # 2,000 values do not fit in 16 KB of data: one is missing, said before any render.
    with pytest.raises(ValueError, match=r"data\.v\d+: missing"):
        prepared(templating, "distinct", {f"v{n}": n for n in range(1000)})
    parsed = prepared(templating, "repeated", {f"v{n}": n for n in range(100)})
    try:
        rendered, _ = templating.for_reader(parsed, None, None, None)
    except RenderError as exc:  # on a slow day: stopped by the time limit, never stalled
        assert "took over" in str(exc)  # noqa: PT017
    else:
        assert rendered.formatted.text.startswith("0 1 2 3")


def test_an_action_over_the_limit_is_invalid_and_a_blank_render_too(
    make_templating: MakeTemplating,
) -> None:
    templating = make_templating(
        {
            "a.toml": '[en]\nmessage = "x"\nbuttons = [[{ text = "t", action = "{{ s }}" }]]\n',
            "b.toml": '[en]\nmessage = "{{ s }}"\n',
        }
    )
    with pytest.raises(ValueError, match="an action renders to 1001 characters"):
        prepared(templating, "a", {"s": "x" * 1001})
    with pytest.raises(RenderError, match="renders to nothing"):
        templating.for_reader(prepared(templating, "b", {"s": "  "}), None, None, None)


def test_a_reader_filter_of_a_constant_is_in_the_readers_language_too(
    make_templating: MakeTemplating,
) -> None:
    source = "{{ 4.95|currency('EUR') }} {{ 1234.5|number }} {{ '2026-12-24'|date }}"
    templating = make_templating(
        {"t.toml": f'[en]\nmessage = "{source}"\n[de]\nmessage = "{source}"\n'}
    )
    german, _ = templating.for_reader(prepared(templating, "t", {}), "de", None, None)
    assert german.formatted.text == "4,95\xa0€ 1.234,5 24.12.2026"


def test_a_value_cannot_choose_where_a_link_goes_and_an_empty_one_leaves_no_trace(
    make_templating: MakeTemplating,
) -> None:
    templating = make_templating(
        {
            "host.toml": 'format = "html"\n[en]\n'
            "message = '<a href=\"https://a.{{ h }}/p\">x</a>'\n",
            "query.toml": 'format = "html"\n[en]\n'
            "message = '<a href=\"https://x.example/?q={{ q }}\">x</a>'\n",
            "pre.toml": 'format = "html"\n[en]\n'
            "message = '<pre><code class=\"language-{{ lang }}\">{{ code }}</code></pre>'\n",
        }
    )
    with pytest.raises(RenderError, match="a value in a link's scheme or host"):
        templating.for_reader(prepared(templating, "host", {"h": "evil.example"}), None, None, None)
    empty, _ = templating.for_reader(prepared(templating, "query", {"q": ""}), None, None, None)
    assert [e.url for e in empty.formatted.entities] == ["https://x.example/?q="]
    pre, _ = templating.for_reader(
        prepared(templating, "pre", {"lang": "python", "code": "x = 1"}), None, None, None
    )
    assert [(e.type, e.language) for e in pre.formatted.entities] == [("pre", "python")]


def test_data_is_read_only_and_an_odd_value_is_invalid_not_a_crash(
    make_templating: MakeTemplating,
) -> None:
    templating = make_templating(
        {
            "pop.toml": '[en]\nmessage = "{{ items.pop() }}"\n',
            "odd.toml": '[en]\nmessage = "x"\n'
            'buttons = [[{ text = "t", action = "a-{{ opts|dictsort|first }}" }]]\n',
            "opt.toml": "[en]\n"
            'message = "Hi {{ name }}{% if code is defined %} {{ code }}{% endif %}"\n',
        }
    )
    parsed = prepared(templating, "pop", {"items": [1, 2, 3]})
    with pytest.raises(RenderError, match="not allowed in a template"):
        templating.for_reader(parsed, None, None, None)
    assert parsed.notification.data == {"items": [1, 2, 3]}
    with pytest.raises(ValueError, match="a value of the wrong type"):
        prepared(templating, "odd", {"opts": ["b"]})
    optional, _ = templating.for_reader(
        prepared(templating, "opt", {"name": "A"}), None, None, None
    )
    assert optional.formatted.text == "Hi A"


def test_a_template_that_shows_times_renders_per_time_zone_and_one_that_does_not_once(
    make_templating: MakeTemplating,
) -> None:
    templating = make_templating(
        {
            "at.toml": '[en]\nmessage = "At {{ at | time }}"\n',
            "plain.toml": '[en]\nmessage = "Order {{ n }}"\n',
        }
    )
    at = prepared(templating, "at", {"at": "2026-03-01T12:00:00Z"})
    berlin, _ = templating.for_reader(at, None, "en", "Europe/Berlin")
    tokyo, _ = templating.for_reader(at, None, "en", "Asia/Tokyo")
    templating.for_reader(at, None, "en", "Asia/Tokyo")  # a third reader in Tokyo: reused
    assert (berlin.formatted.text, tokyo.formatted.text) == ("At 1:00\u202fPM", "At 9:00\u202fPM")
    assert templating.renders == 2
    plain = prepared(templating, "plain", {"n": 7})
    for zone in ("Europe/Berlin", "Asia/Tokyo", None):
        templating.for_reader(plain, None, "en", zone)
    assert templating.renders == 3
