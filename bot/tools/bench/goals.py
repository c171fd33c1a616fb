"""The bench's goals, checked against its report: `python -m bot bench` exits 1 when one is
missed (`--no-goals`: measure only). A figure the run did not produce counts as missed; with
--only, the goals of the part that ran are the ones checked."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.tools.bench.instances import GOAL_CAP_SHARE
from bot.tools.bench.lifecycle import (
    GOAL_FANOUT_RSS_MB,
    GOAL_FANOUT_SHARE,
    GOAL_HIGH_P99_S,
    GOAL_SCHEDULED_S,
)
from bot.tools.bench.templated import GOAL_TEMPLATE_EXTRA

GOAL_CPU_MULTIPLE = 2.0  # the bot's CPU per message against the bare sender's
GOAL_THROUGHPUT_SHARE = 0.60  # the bot's throughput against the bare sender's, limits lifted
GOAL_RICH_EXTRA = 0.15  # CPU a formatted notification with buttons costs more than a plain one


def _ratio(top: Any, bottom: Any) -> float | None:
    if not isinstance(top, (int, float)) or not isinstance(bottom, (int, float)) or not bottom:
        return None
    return float(top) / float(bottom)


Goal = tuple[str, float | None, Callable[[float], bool]]


def _goals(report: dict[str, Any]) -> list[Goal]:
    goals = _every_part_goals(report) if "bot" in report else []  # not --only
    if "templates" in report:
        goals.append(_template_goal(report["templates"]))
    return goals


def _template_goal(figures: dict[str, Any]) -> Goal:
    """Templated against the same as message; unmeasured if what arrived was not the same."""
    ratio = _ratio(figures.get("templated_ms"), figures.get("plain_ms"))
    same = figures.get("same_as_plain") is True
    return (
        f"templated <= +{GOAL_TEMPLATE_EXTRA:.0%} CPU over the same sent as message",
        ratio - 1 if ratio is not None and same else None,
        lambda extra: extra <= GOAL_TEMPLATE_EXTRA,
    )


def _every_part_goals(report: dict[str, Any]) -> list[Goal]:
    bot, bare, life = report["bot"], report["bare"], report["lifecycle"]
    rich = _ratio(bot.get("paced_rich_cpu_ms_per_msg"), bot.get("paced_cpu_ms_per_msg"))
    p99 = (life.get("high_ms") or {}).get("p99")
    goals: list[Goal] = [
        (
            f"every notification delivered ({bot['delivered']} of {bot['published']})",
            _ratio(bot["delivered"], bot["published"]),
            lambda share: share >= 1,
        ),
        (
            f"CPU per message <= {GOAL_CPU_MULTIPLE:g}x the bare sender's",
            _ratio(bot.get("cpu_ms_per_msg"), bare.get("cpu_ms_per_msg")),
            lambda multiple: multiple <= GOAL_CPU_MULTIPLE,
        ),
        (
            f"throughput >= {GOAL_THROUGHPUT_SHARE:.0%} of the bare sender's",
            _ratio(bot.get("throughput_lifted"), bare.get("throughput_lifted")),
            lambda share: share >= GOAL_THROUGHPUT_SHARE,
        ),
        (
            f"one per user: CPU per message <= {GOAL_CPU_MULTIPLE:g}x the bare sender's",
            _ratio(bot.get("spread_cpu_ms_per_msg"), bare.get("spread_cpu_ms_per_msg")),
            lambda multiple: multiple <= GOAL_CPU_MULTIPLE,
        ),
        (
            f"one per user: throughput >= {GOAL_THROUGHPUT_SHARE:.0%} of the bare sender's",
            _ratio(bot.get("spread_throughput_lifted"), bare.get("spread_throughput_lifted")),
            lambda share: share >= GOAL_THROUGHPUT_SHARE,
        ),
        (
            f"formatted with buttons <= +{GOAL_RICH_EXTRA:.0%} CPU over plain, paced",
            None if rich is None else rich - 1,
            lambda extra: extra <= GOAL_RICH_EXTRA,
        ),
        (
            f"high priority behind a backlog: p99 < {GOAL_HIGH_P99_S:g} s",
            None if p99 is None else p99 / 1000,
            lambda seconds: seconds < GOAL_HIGH_P99_S,
        ),
        (
            f"fan-out >= {GOAL_FANOUT_SHARE:.0%} of single notifications' rate",
            _ratio(life.get("fanout_rate"), life.get("singles_rate")),
            lambda share: share >= GOAL_FANOUT_SHARE,
        ),
        (
            f"fan-out peak RSS < {GOAL_FANOUT_RSS_MB:.0f} MB",
            life.get("fanout_rss_mb"),
            lambda megabytes: megabytes < GOAL_FANOUT_RSS_MB,
        ),
        (
            f"several instances >= {GOAL_CAP_SHARE:.0%} of the paid cap",
            report["instances"].get("cap_fraction"),
            lambda share: share >= GOAL_CAP_SHARE,
        ),
    ]
    if life.get("scheduled"):
        goals.append(
            (
                f"scheduled ones all sent within {GOAL_SCHEDULED_S:g} s",
                life.get("scheduled_last_s"),
                lambda seconds: seconds <= GOAL_SCHEDULED_S,
            )
        )
    return goals


def missed_goals(report: dict[str, Any]) -> list[str]:
    """Each goal the run missed, as "<goal>: <figure>" ("not measured" for a missing one)."""
    missed = []
    for goal, figure, met in _goals(report):
        if figure is None:
            missed.append(f"{goal}: not measured")
        elif not met(figure):
            missed.append(f"{goal}: {figure:.3g}")
    return missed
