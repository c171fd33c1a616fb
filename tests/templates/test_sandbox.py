"""A render's budget: its time is what its thread spent, not the wall clock's."""

from __future__ import annotations

import time

import pytest

from bot.templates.sandbox import Budget, RenderLimit


def test_a_render_set_aside_while_other_processes_run_is_not_over_its_time() -> None:
    """On a busy machine the render's thread waits for a core: the wall clock runs on, the
    render costs nothing meanwhile (a sleep stands for the wait)."""
    budget = Budget(100, seconds=0.02)
    time.sleep(0.05)
    budget.spend(1)
    for _ in range(64):
        budget.tick()


def test_a_render_that_spends_its_time_is_stopped() -> None:
    budget = Budget(100, seconds=0.02)
    spent = time.thread_time() + 0.03
    while time.thread_time() < spent:
        pass
    with pytest.raises(RenderLimit, match="took over 20 ms"):
        budget.spend(1)
