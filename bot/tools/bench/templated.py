"""The bench's row for localized templates: the bot's CPU per templated notification, rendered
for each reader (half of them in German, as Telegram reported), against the same text sent as
`message` (the same HTML and buttons, rendered beforehand), in one bot process, alternating
bursts, the least of each counting."""

from __future__ import annotations

import json
import tempfile
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import redis

from bot.store.languages import TELEGRAM_LANGUAGE
from bot.templates.files import Template, Templates, load_templates
from bot.templates.filters import Reader
from bot.testing import FakeTelegram, SentMessage
from bot.tools.bench.kit import LIFTED, BotProcess, bot_env

GOAL_TEMPLATE_EXTRA = 0.20  # CPU a templated notification costs more than the same as message
NAME = "bench_order_shipped"
# The example of issue 29 (html, a url button and an action button), the burst's tag in front.
# Short: its rendered payload stays under bot.pipeline.parsing.ON_LOOP_BYTES, so both kinds are
# parsed in the bot's process (a longer one sent as `message` is parsed in a worker process
# whose CPU the bot's does not show), and a short message is the one a render's fixed cost
# weighs most on.
TEMPLATE = """\
format = "html"

[en]
message = "{{ burst }} <b>Order {{ order }}</b> ships on {{ eta | date }}"
buttons = [[{ text = "Track", url = "https://shop.example/t/{{ order }}" }],
           [{ text = "Received it", action = "order-{{ order }}:received" }]]

[de]
message = "{{ burst }} <b>Bestellung {{ order }}</b> wird am {{ eta | date }} versandt"
buttons = [[{ text = "Verfolgen", url = "https://shop.example/t/{{ order }}" }],
           [{ text = "Erhalten", action = "order-{{ order }}:received" }]]
"""
ETA = "2026-12-24"
GERMAN = "Bestellung"  # in the German text only
CHUNK = 10_000
UTC = ZoneInfo("UTC")


def telegram_language(user: int) -> str:
    """What Telegram reported for `user`: German for every other one."""
    return "de" if user % 2 == 0 else "en"


@dataclass
class TemplateFigures:
    count: int = 0
    users: int = 0
    templated_ms: float | None = None  # CPU per notification naming the template
    plain_ms: float | None = None  # the same HTML and buttons sent as `message`
    german: int = 0  # of a templated burst, rendered in German
    same_as_plain: bool | None = None  # a templated burst's messages are a plain one's


def measure_templates(
    telegram: FakeTelegram,
    client: redis.Redis,
    url: str,
    *,
    count: int,
    users: int,
    bursts: int,
    latency_ms: float,
) -> TemplateFigures:
    """`count` notifications to `users` users (linked already) with limits lifted and the API
    latency of the other lifted bursts, naming the bench's template (its own directory), and
    the same as plain `message`s rendered beforehand, alternating, `bursts` times each."""
    figures = TemplateFigures(count=count, users=users)
    _store_languages(client, users)
    channel = f"bench-templates-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="notify-bench-templates-") as directory:
        (Path(directory) / f"{NAME}.toml").write_text(TEMPLATE)
        templates = load_templates(Path(directory))
        env = bot_env(telegram, url, channel, TEMPLATES_DIR=directory, **LIFTED)
        bot = BotProcess(["-m", "bot"], env, '"event": "bot_ready"')
        telegram.latency = latency_ms / 1000
        try:
            shown: dict[bool, Counter[str]] = {}
            for _ in range(bursts):
                for templated in (False, True):
                    tag = uuid.uuid4().hex[:6]
                    payloads = [
                        _payload(templates, tag, n, n % users + 1, templated=templated)
                        for n in range(count)
                    ]
                    cpu = bot.cpu_seconds()
                    sent = _burst(telegram, client, channel, tag, payloads)
                    cpu_ms = 1000 * (bot.cpu_seconds() - cpu) / count
                    if templated:
                        figures.templated_ms = min(cpu_ms, figures.templated_ms or cpu_ms)
                        figures.german = sum(GERMAN in m.text for m in sent)
                    else:
                        figures.plain_ms = min(cpu_ms, figures.plain_ms or cpu_ms)
                    shown[templated] = Counter(_shown(m, tag) for m in sent)
            figures.same_as_plain = shown[True] == shown[False]
        finally:
            telegram.latency = 0.0
            bot.stop()
            client.delete(TELEGRAM_LANGUAGE)
    return figures


def _store_languages(client: redis.Redis, users: int) -> None:
    """Each user's Telegram language, as the bot stores it when they link (bot.store.languages)."""
    for start in range(1, users + 1, CHUNK):
        chunk = range(start, min(start + CHUNK, users + 1))
        client.hset(TELEGRAM_LANGUAGE, mapping={str(u): telegram_language(u) for u in chunk})


def _payload(templates: Templates, tag: str, n: int, user: int, *, templated: bool) -> str:
    """Notification `n` of a burst, to `user`: naming the template, or rendered here in the
    user's language as the bot would, and sent as `message` with the same buttons."""
    data = {"burst": f"tpl {tag}", "order": n + 1, "eta": ETA}
    if templated:
        return json.dumps({"user_id": user, "template": NAME, "data": data})
    template = templates.get(NAME)
    assert template is not None  # noqa: S101
    return json.dumps(_rendered(templates, template, data, user))


def _rendered(
    templates: Templates, template: Template, data: dict[str, Any], user: int
) -> dict[str, Any]:
    """The plain notification for what `template` renders to for `user`. The values are digits
    and words: no markup to escape, nothing to percent-encode."""
    language = telegram_language(user)
    localized = template.languages[language]
    reader = Reader(language, UTC)
    render = templates.renderer.render_plain
    buttons = [
        [
            {"text": render(button.text, data, reader)}
            | (
                {"url": render(button.url, data, reader)}
                if button.url is not None
                else {"action": render(button.action or "", data, reader)}
            )
            for button in row
        ]
        for row in localized.buttons
    ]
    return {
        "user_id": user,
        "message": render(localized.message, data, reader),
        "format": template.format,
        "buttons": buttons,
    }


def _burst(
    telegram: FakeTelegram, client: redis.Redis, channel: str, tag: str, payloads: list[str]
) -> list[SentMessage]:
    pipe = client.pipeline(transaction=False)
    for payload in payloads:
        pipe.publish(channel, payload)
    pipe.execute()
    return telegram.wait_for_sent(
        lambda m: m.text.startswith(f"tpl {tag} "),
        count=len(payloads),
        timeout=60 + len(payloads) / 5,
    )


def _shown(message: SentMessage, tag: str) -> str:
    """What the reader sees, the burst's tag left out (an action's callback data is a key of
    each notification's own)."""
    buttons = [
        [{k: v for k, v in b.items() if k != "callback_data"} for b in row]
        for row in message.buttons
    ]
    shown = [message.chat_id, message.text.replace(tag, ""), message.entities, buttons]
    return json.dumps(shown)


def template_lines(figures: dict[str, Any], options: dict[str, Any]) -> list[str]:
    """The row, measured or not ("-"): the ratio measured in this run, with both figures."""
    templated, plain = figures["templated_ms"], figures["plain_ms"]
    measured = isinstance(templated, float) and isinstance(plain, float) and plain > 0
    extra = f"{templated / plain - 1:+.0%}" if measured else "-"
    same = {True: "the same messages", False: "NOT the same messages", None: "not compared"}
    return [
        f"templates: {figures['count']} notifications to {figures['users']} users, limits "
        f"lifted, API latency {options['latency_ms']:g} ms: CPU per notification "
        f"{_ms(templated)} naming a template, rendered per reader ({figures['german']} in "
        f"German), {_ms(plain)} sent as message rendered beforehand "
        f"({same[figures['same_as_plain']]}): {extra} (goal <= +{GOAL_TEMPLATE_EXTRA:.0%})"
    ]


def _ms(figure: object) -> str:
    return f"{figure:.2f} ms" if isinstance(figure, float) else "-"
