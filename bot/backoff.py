"""Retry delays shared by every loop that waits for a peer to come back."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with "equal jitter" for the `attempt`-th retry (1-based).

    Half the delay is fixed so retries never collapse to zero; the other half is random so many
    clients that failed together do not come back together.
    """
    ceiling = min(cap, base * 2 ** (attempt - 1))
    return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not crypto
