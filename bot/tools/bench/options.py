"""The bench's knobs, apart from the bench itself: the command line builds its --help from
them without importing what the bench runs."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Options:
    count: int = 5000
    users: int = 500
    latency_ms: float = 50.0
    limited_count: int = 600
    paid_count: int = 5000
    rate: float = 10.0
    rate_count: int = 100
    idle_seconds: float = 10.0
    blog_count: int = 200
    bursts: int = 2  # each process's lifted burst is run this many times; the best counts
    bulk_count: int = 10_000  # bulk notifications queued before the high ones
    high_count: int = 20
    high_every: float = 0.5
    fanout_count: int = 100_000  # users linked: the fan-out goes to all of them
    scheduled_count: int = 1000
    preferences_count: int = 10_000  # to --paid-count users, with and without preferences
    templates_count: int = 10_000  # to --paid-count users, templated and sent as message
    load: bool = True  # a busy process on one core while the bot sends under the 30/s limit
    redis_url: str | None = None  # None: an embedded Redis of its own
    yes_use_it: bool = False  # write into `redis_url` although it holds keys
    only: str | None = None  # one of ONLY: that part alone, after linking the users it needs


ONLY = ("templates",)  # the parts that run alone (--only)
