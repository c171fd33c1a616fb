"""What each pytest-xdist worker has to itself: Redis databases, channel names, quiet for timing."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest

# A database of its own so a test run never touches data in db 0.
BASE_REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# pytest-xdist workers at most (pyproject's -n): each takes a database, and a second one for
# tests of two deployments on one server, all above db 0.
MAX_WORKERS = 7

WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", ...; "" when not parallel


def worker_url(base: str, worker: str, *, spare: bool = False) -> str:
    """The database of pytest-xdist worker `worker`: the base database, then one lower for
    each further worker, as every test flushes its database. `spare`: its second one,
    MAX_WORKERS further down."""
    parts = urlsplit(base)
    index = int(worker.removeprefix("gw") or 0)
    if index >= MAX_WORKERS:  # its database would be worker 0's spare: one would wipe the other
        raise RuntimeError(f"worker {worker}: at most {MAX_WORKERS} workers (-n {MAX_WORKERS})")
    database = int(parts.path.lstrip("/") or 0) - index
    if spare:
        database -= MAX_WORKERS
    if database < 1:
        raise RuntimeError(f"worker {worker or 'main'}: no database left above db 0 ({base})")
    return urlunsplit(parts._replace(path=f"/{database}"))


TEST_REDIS_URL = worker_url(BASE_REDIS_URL, WORKER)
SPARE_REDIS_URL = worker_url(BASE_REDIS_URL, WORKER, spare=True)  # a second deployment's


def channel_name() -> str:
    """A pub/sub channel no other test, on this worker or another, publishes to: pub/sub
    ignores the database number."""
    return f"notification-test-{WORKER or 'main'}-{uuid.uuid4().hex[:8]}"


# Tests that measure time (pacing, "answered within 2 s", 429 counts) and the CPU-heavy bursts
# that would throw them off: pytest-xdist (--dist loadgroup) runs them one after another on one
# worker, not beside each other; the other workers' tests mostly wait.
TIMING = pytest.mark.xdist_group("timing")
