"""The operator's monitoring kit (config/grafana, config/prometheus) against the bot: every
metric and label the dashboard and the alert rules use is in /metrics of a running bot, the
rules pass `promtool check rules`, and each alert has its runbook entry."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio
import yaml
from prometheus_client.parser import text_string_to_metric_families

from bot.config.settings import Settings
from bot.ops.readings import StreamBacklog, stream_backlog
from bot.store.client import priority_streams
from bot.testing import FakeTelegram
from bot.tools.redis_server import RedisServer
from tests.bots import RunningBot, start_bot
from tests.helpers import link_chat, plain_publish, wait_sent
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "config" / "grafana" / "notify-bot.json"
ALERTS = ROOT / "config" / "prometheus" / "alerts.yml"
RUNBOOK = ROOT / "docs" / "operations" / "alerts.md"
MONITORING = ROOT / "docs" / "operations" / "monitoring.md"

# What the operator looks at (issue 31), by panel title and by alert name.
PANELS = {
    "Deliveries by outcome",
    "Backlog per priority",
    "Delivery latency",
    "429s and pacing",
    "Dead letters",
    "Leader and instances",
    "Redis and Telegram outages",
    "Token rejected",
    "What the chats said back",
}
ALERT_NAMES = {
    "NotifyBotNoLeader",
    "NotifyBotBacklogGrowing",
    "NotifyBotDeadLettersRising",
    "NotifyBotTelegramTokenRejected",
    "NotifyBotTelegramErrors",
    "NotifyBotTelegramUnreachable",
    "NotifyBotRedisUnreachable",
    "NotifyBotFloodWait",
}
# Labels Prometheus adds to every scraped series (the target's), never in /metrics itself.
TARGET_LABELS = {"job", "instance"}

METRIC = re.compile(r"\bnotify_[a-z0-9_]+\b")
SELECTOR = re.compile(r"\b(notify_[a-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_]\w*)\s*(=~|!~|!=|=)\s*"([^"]*)"')
GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
LEGEND_LABEL = re.compile(r"\{\{\s*([a-zA-Z_]\w*)\s*\}\}")
TEMPLATE_LABEL = re.compile(r"\$labels\.([a-zA-Z_]\w*)")


# Exposition: sample name -> label name -> the values seen.
Exposed = dict[str, dict[str, set[str]]]


def exposed(text: str) -> Exposed:
    """Every sample name of a Prometheus text exposition with its labels and their values, by
    prometheus-client's own parser (histograms as _bucket/_sum/_count, counters as _total)."""
    found: Exposed = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = found.setdefault(sample.name, {})
            for name, value in sample.labels.items():
                labels.setdefault(name, set()).add(value)
    return found


def problems(expr: str, exposition: Exposed, templates: list[str]) -> list[str]:
    """What `expr` (and the legends or annotations in `templates` that name its labels) uses
    that /metrics does not have: a metric, a label on a selector, a label value an equality
    matcher asks for, a label in by()/without() or in a template."""
    found = []
    names = set(METRIC.findall(expr))
    if not names:
        found.append(f"{expr!r} names no notify_ metric")
    for name in names - exposition.keys():
        found.append(f"{name} is not in /metrics")
    for name, body in SELECTOR.findall(expr):
        labels = exposition.get(name, {})
        for label, op, value in MATCHER.findall(body):
            if label not in labels:
                found.append(f"{name} has no label {label!r}")
            elif op == "=" and value not in labels[label]:
                found.append(f'{name}{{{label}="{value}"}} is not in /metrics')
    known = TARGET_LABELS | {"le"} | {label for name in names for label in exposition.get(name, {})}
    grouped = {label.strip() for group in GROUPING.findall(expr) for label in group.split(",")}
    for label in grouped - {""} - known:
        found.append(f"by/without ({label}): no metric in {expr!r} has it")
    for template in templates:
        for label in [*LEGEND_LABEL.findall(template), *TEMPLATE_LABEL.findall(template)]:
            if label not in known:
                found.append(f"{template!r} names {label!r}, which {expr!r} does not have")
    return found


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    loaded = yaml.safe_load(ALERTS.read_text())
    return [rule for group in loaded["groups"] for rule in group["rules"]]


@pytest.fixture
def http_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"port": 0, "http_host": "127.0.0.1"})


async def scrape(running: RunningBot) -> str:
    assert running.bot.http is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{running.bot.http.port}/metrics", timeout=5)
    assert response.status_code == 200
    return response.text


async def publish_after_a_429(
    settings: Settings,
    telegram: FakeTelegram,
    client: redis.asyncio.Redis,
    text: str,
    retry_after: int,
) -> None:
    """Link user 42, have Telegram answer the next send 429 (`retry_after` s), publish `text`."""
    await link_chat(telegram, client, user_id=42, chat_id=9001)
    telegram.fail_next(
        "sendMessage",
        429,
        f"Too Many Requests: retry after {retry_after}",
        parameters={"retry_after": retry_after},
    )
    note = json.dumps({"user_id": 42, "message": text})
    plain_publish(settings.redis_url, settings.notification_channel, note)


async def test_every_metric_and_label_the_dashboard_and_the_alerts_use_is_in_metrics(
    http_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    """A bot that delivered, once after a 429, is scraped: each expression's metrics, labels and
    matched label values are there (a renamed metric or label fails here, not at 3 a.m.)."""
    running = await start_bot(http_settings)
    try:
        await publish_after_a_429(http_settings, telegram, redis_client, "after a 429", 1)
        await wait_sent(telegram, chat_id=9001, predicate=lambda m: m.text == "after a 429")
        await eventually(lambda: running.bot.dispatcher.pending == 0)
        exposition = exposed(await scrape(running))
    finally:
        await running.shutdown()

    found = []
    for panel in dashboard()["panels"]:
        for target in panel["targets"]:
            found += problems(target["expr"], exposition, [target.get("legendFormat", "")])
    for rule in alert_rules():
        texts = [str(text) for text in (*rule["annotations"].values(), *rule["labels"].values())]
        found += problems(rule["expr"], exposition, texts)
    assert found == []
    # And every metric is in the operator's list of them.
    documented = set(re.findall(r"`(notify_\w+)`", MONITORING.read_text()))
    for name in exposition:
        family = re.sub(r"_(bucket|sum|count|created)$", "", name)
        assert {name, family, f"{family}_total"} & documented, f"{name}: not in {MONITORING.name}"


async def test_the_new_gauges_say_what_they_mean(
    http_settings: Settings, telegram: FakeTelegram, redis_client: redis.asyncio.Redis
) -> None:
    """Backlog per priority and state, one live instance, Redis up, no outage, the token
    accepted; a 429's retry_after is observed and shows as a pause."""
    running = await start_bot(http_settings)
    try:
        await publish_after_a_429(http_settings, telegram, redis_client, "paused", 5)
        registry = running.bot.metrics.registry
        # Scraped while the send waits out its pause.
        await eventually(
            lambda: registry.get_sample_value("notify_telegram_flood_wait_seconds_count") == 1
        )
        text = await scrape(running)
    finally:
        await running.shutdown()
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    for priority in ("high", "normal", "bulk"):
        for state in ("pending", "unread"):
            key = (("priority", priority), ("state", state))
            assert samples["notify_stream_backlog", key] >= 0
    assert samples["notify_instances", ()] == 1
    assert samples["notify_redis_up", ()] == 1
    assert samples["notify_telegram_token_rejected", ()] == 0
    assert samples["notify_outage_seconds", (("peer", "redis"),)] == 0
    assert samples["notify_outage_seconds", (("peer", "telegram"),)] == 0
    assert samples["notify_send_share_instances", ()] == 1
    assert samples["notify_telegram_flood_wait_seconds_count", ()] == 1
    assert samples["notify_telegram_flood_wait_seconds_sum", ()] == 5
    assert 0 < samples["notify_telegram_paused_seconds", ()] <= 5


async def test_with_redis_down_metrics_says_so_and_leaves_out_what_it_cannot_read(
    own_redis: RedisServer, http_settings: Settings
) -> None:
    own_redis.start()
    running = await start_bot(http_settings.model_copy(update={"redis_url": own_redis.url}))
    try:
        up = exposed(await scrape(running))
        assert {"notify_stream_backlog", "notify_instances"} <= up.keys()
        own_redis.kill()
        down = exposed(await scrape(running))
        assert "notify_stream_backlog" not in down
        assert "notify_instances" not in down
        assert down["notify_backlog"]["where"] == {"memory"}  # not the last value, stale
        assert "notify_notifications_total" in down  # the counters are served all the same
        text = await scrape(running)
        assert "notify_redis_up 0.0" in text
        own_redis.start()

        async def back() -> bool:
            return "notify_redis_up 1.0" in await scrape(running)

        await eventually(back, within=10)
    finally:
        await running.shutdown()


async def test_the_backlog_per_priority_counts_unread_and_pending_entries(
    redis_client: redis.asyncio.Redis,
) -> None:
    high, _normal, bulk = priority_streams("notes")
    await redis_client.xadd(bulk, {"payload": "1"})
    await redis_client.xadd(bulk, {"payload": "2"})
    await redis_client.xadd(high, {"payload": "3"})
    before = await stream_backlog(redis_client, "notes", "bot")
    assert before == {  # no group yet: nothing was read
        "high": StreamBacklog(pending=0, unread=1),
        "normal": StreamBacklog(pending=0, unread=0),
        "bulk": StreamBacklog(pending=0, unread=2),
    }
    await redis_client.xgroup_create(bulk, "bot", id="0")
    await redis_client.xreadgroup("bot", "worker", {bulk: ">"}, count=1)
    after = await stream_backlog(redis_client, "notes", "bot")
    assert after["bulk"] == StreamBacklog(pending=1, unread=1)


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is not on the PATH in CI: .ci/run installs it")
        pytest.skip("promtool is not on the PATH (Debian's prometheus package has it)")
    result = subprocess.run(
        [promtool, "check", "rules", str(ALERTS)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(ALERT_NAMES)} rules found" in result.stdout


def test_every_alert_says_what_happened_and_links_its_runbook_entry() -> None:
    rules = alert_rules()
    assert {rule["alert"] for rule in rules} == ALERT_NAMES
    headings = {
        _anchor(line.removeprefix("## "))
        for line in RUNBOOK.read_text().splitlines()
        if line.startswith("## ")
    }
    for rule in rules:
        annotations = rule["annotations"]
        assert annotations["summary"]
        assert annotations["description"]
        assert rule["labels"]["severity"] in {"critical", "warning"}
        page, _, anchor = annotations["runbook_url"].partition("#")
        assert page == "docs/operations/alerts.md"
        assert anchor == rule["alert"].lower()
        assert anchor in headings, f"{RUNBOOK.name} has no heading for {rule['alert']}"


def _anchor(heading: str) -> str:
    """The anchor MkDocs (and Zensical) give a heading: lower case, words joined by dashes."""
    return re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", heading.strip().lower()))


def test_the_dashboard_imports_as_it_is_and_has_the_panels_an_operator_needs() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39
    assert board["uid"] == "notify-bot"
    [source] = board["__inputs"]
    assert (source["name"], source["pluginId"]) == ("DS_PROMETHEUS", "prometheus")
    titles = [panel["title"] for panel in board["panels"]]
    assert set(titles) >= PANELS
    assert len(set(titles)) == len(titles)
    ids = [panel["id"] for panel in board["panels"]]
    assert len(set(ids)) == len(ids)
    for panel in board["panels"]:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert target["expr"].strip()
