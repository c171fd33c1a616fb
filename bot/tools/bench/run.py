"""`python -m bot bench`'s main flow: every part in order (or one, --only), against one Redis
and one Bot API emulator, then one report (report.py's table, or JSON). The Redis is a
redis-server process of its own (the embedded fakeredis if none is installed), or an empty
database given with --redis-url (never REDIS_URL)."""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import os
import platform
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any, TextIO

import redis

from bot.testing import FakeTelegram
from bot.tools.bench.chats import measure_chats, measure_five_chats
from bot.tools.bench.head_to_head import measure_bare, measure_blog, measure_bot
from bot.tools.bench.instances import measure_instances
from bot.tools.bench.kit import Progress, link_users
from bot.tools.bench.lifecycle import measure_lifecycle
from bot.tools.bench.options import Options
from bot.tools.bench.preferences import measure_preferences
from bot.tools.bench.report import print_table
from bot.tools.bench.templated import measure_templates
from bot.tools.bench.under_limits import measure_limits
from bot.tools.scratch import scratch_redis

PARTS = 9  # the measurements below, for the progress lines
ONLY_PARTS = 2  # --only: the linking, then the part
# A part of the bench in the progress lines: `with part("what it measures"): ...`
Part = Callable[[str], AbstractContextManager[None]]


def run_bench(
    options: Options,
    out: TextIO = sys.stdout,
    *,
    as_json: bool = False,
    progress: TextIO = sys.stderr,
) -> dict[str, Any]:
    """Run every measurement for the bare sender, the bot and the blog loop (or only the part
    `options.only` names); print a table (or JSON), and which part runs to `progress`."""
    part = Progress(ONLY_PARTS if options.only else PARTS, progress).part
    scratch = scratch_redis(options.redis_url, "bench", allow_data=options.yes_use_it, server=True)
    # The emulator stamps a request when one of its threads gets to it: a garbage collection in
    # this process (116 ms, measured, once it has recorded some 20,000 calls) held them all and
    # then stamped a bunch at once, 429s that Telegram would never have answered. Collections
    # run between the measurements instead (BotProcess).
    with scratch as url, FakeTelegram() as telegram, _gc_off():
        client = redis.Redis.from_url(url)
        try:
            machine = _machine(client)
            if options.only == "templates":
                with part(f"linking {options.paid_count:,} users"):
                    link_users(client, telegram, options.paid_count)
                figures = {"templates": _templates(options, telegram, client, url, part)}
            else:
                figures = _every_part(options, telegram, client, url, part)
        finally:
            client.close()
    report = {"options": asdict(options), "machine": machine, **figures}
    if as_json:
        json.dump(report, out, indent=2)
        out.write("\n")
    else:
        print_table(report, out)
    return report


def _every_part(
    options: Options, telegram: FakeTelegram, client: redis.Redis, url: str, part: Part
) -> dict[str, Any]:
    with part(f"Redis memory of {options.fanout_count:,} users' chats"):
        chats = measure_chats(client, users=options.fanout_count)  # an empty Redis
    linked = max(options.users, options.paid_count, options.count)
    with part(f"linking {linked:,} users"):
        link_users(client, telegram, linked)
    with part("the bare sender (the floor)"):
        bare = measure_bare(options, telegram)
    with part(f"the bot: {options.count:,} notifications, latency, Telegram's limits"):
        bot = measure_bot(options, url, telegram, client)
        measure_limits(options, url, telegram, client, figures=bot)
    with part(f"the blog loop: {options.blog_count:,} notifications"):
        blog = measure_blog(options, url, telegram, client)
    chats_too = functools.partial(
        measure_five_chats,
        telegram,
        client,
        figures=chats,
        sends=options.paid_count,
        users=options.paid_count,
        bursts=options.bursts,
    )
    with part("preferences, and users with five chats"):
        preferences = measure_preferences(
            telegram,
            client,
            url,
            count=options.preferences_count,
            users=options.paid_count,
            bursts=options.bursts,
            latency_ms=options.latency_ms,
            then=chats_too,  # the same bot: limits lifted, the same API latency
        )
    templates = _templates(options, telegram, client, url, part)
    with part("a notification's whole life: priority, fan-out, schedule"):
        lifecycle = measure_lifecycle(
            telegram,
            client,
            url,
            users=options.users,
            latency_ms=options.latency_ms,
            bulk=options.bulk_count,
            high=options.high_count,
            high_every=options.high_every,
            recipients=options.fanout_count,
            scheduled=options.scheduled_count,
        )
    with part("one instance, then three, at the paid cap"):
        one, instances = (
            measure_instances(
                telegram,
                client,
                url,
                count=options.paid_count,
                latency_ms=options.latency_ms,
                instances=number,
            )
            for number in (1, 3)
        )
    return {
        "bot": asdict(bot),
        "bare": asdict(bare),
        "blog": asdict(blog),
        "lifecycle": asdict(lifecycle),
        "preferences": asdict(preferences),
        "templates": templates,
        "chats": asdict(chats),
        "instances": asdict(instances),
        "one_instance": asdict(one),
    }


def _templates(
    options: Options, telegram: FakeTelegram, client: redis.Redis, url: str, part: Part
) -> dict[str, Any]:
    """The templates' part: to --paid-count users, linked already."""
    with part(f"templates: {options.templates_count:,} rendered per reader, and as message"):
        figures = measure_templates(
            telegram,
            client,
            url,
            count=options.templates_count,
            users=options.paid_count,
            bursts=options.bursts,
            latency_ms=options.latency_ms,
        )
    return asdict(figures)


@contextlib.contextmanager
def _gc_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _machine(client: redis.Redis) -> str:
    try:
        info: Any = client.info("server")
        server = f"redis-server {info['redis_version']}"
    except (redis.ResponseError, KeyError):  # fakeredis knows no INFO
        server = "fakeredis"
    return (
        f"{os.cpu_count()} cores, {platform.system()} {platform.machine()}, "
        f"Python {platform.python_version()}, {server}"
    )
