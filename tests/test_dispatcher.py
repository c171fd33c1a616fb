"""The dispatcher: order per user, concurrency across users, bad input survives, clean drain."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.dispatcher import Dispatcher
from bot.events import Notification
from bot.stats import Outcome, Stats
from tests.helpers import eventually


class RecordingDelivery:
    """A delivery that records what it sent and can be held at a gate per user."""

    def __init__(self) -> None:
        self.delivered: list[Notification] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.gates: dict[int, asyncio.Event] = {}
        self.fail_on: set[str] = set()

    async def __call__(self, notification: Notification) -> Outcome:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            gate = self.gates.get(notification.user_id)
            if gate is not None:
                await gate.wait()
            else:
                await asyncio.sleep(0)
            if notification.message in self.fail_on:
                raise RuntimeError("boom")
            self.delivered.append(notification)
            return Outcome.SENT
        finally:
            self.in_flight -= 1


def payload(user_id: int, message: str) -> bytes:
    return json.dumps({"user_id": user_id, "message": message}).encode()


async def settle(dispatcher: Dispatcher) -> None:
    assert await dispatcher.drain(grace=5) == 0


async def test_one_users_notifications_keep_publish_order() -> None:
    delivery = RecordingDelivery()
    dispatcher = Dispatcher(delivery, Stats(), concurrency=8)
    for i in range(50):
        dispatcher.accept(payload(1, f"m{i}"))
    await settle(dispatcher)
    assert [n.message for n in delivery.delivered] == [f"m{i}" for i in range(50)]


async def test_a_slow_user_does_not_hold_up_others() -> None:
    delivery = RecordingDelivery()
    delivery.gates[1] = asyncio.Event()
    dispatcher = Dispatcher(delivery, Stats(), concurrency=4)
    dispatcher.accept(payload(1, "slow"))
    dispatcher.accept(payload(1, "after slow"))
    dispatcher.accept(payload(2, "fast"))

    await eventually(lambda: [n.message for n in delivery.delivered] == ["fast"])
    assert dispatcher.pending == 2  # user 1's two are still queued behind the gate
    delivery.gates[1].set()
    await settle(dispatcher)
    assert [n.message for n in delivery.delivered] == ["fast", "slow", "after slow"]


async def test_concurrency_is_bounded() -> None:
    delivery = RecordingDelivery()
    gate = asyncio.Event()
    for user in range(20):
        delivery.gates[user] = gate
    dispatcher = Dispatcher(delivery, Stats(), concurrency=3)
    for user in range(20):
        dispatcher.accept(payload(user, "hi"))
    await eventually(lambda: delivery.in_flight == 3)
    for _ in range(10):
        await asyncio.sleep(0)
    assert delivery.in_flight == 3
    gate.set()
    await settle(dispatcher)
    assert delivery.max_in_flight == 3
    assert len(delivery.delivered) == 20


async def test_invalid_payloads_are_counted_and_skipped() -> None:
    delivery, stats = RecordingDelivery(), Stats()
    dispatcher = Dispatcher(delivery, stats, concurrency=2)
    dispatcher.accept(b"{oops")
    dispatcher.accept(payload(1, "ok"))
    await settle(dispatcher)
    assert stats.received == 2
    assert stats.outcomes[Outcome.INVALID] == 1
    assert [n.message for n in delivery.delivered] == ["ok"]


async def test_a_crashing_delivery_is_counted_and_the_lane_goes_on() -> None:
    delivery, stats = RecordingDelivery(), Stats()
    delivery.fail_on.add("explodes")
    dispatcher = Dispatcher(delivery, stats, concurrency=2)
    dispatcher.accept(payload(1, "explodes"))
    dispatcher.accept(payload(1, "next"))
    await settle(dispatcher)
    assert stats.outcomes[Outcome.FAILED] == 1
    assert [n.message for n in delivery.delivered] == ["next"]


async def test_drain_gives_up_after_the_grace_period_and_reports_what_is_left() -> None:
    delivery = RecordingDelivery()
    delivery.gates[1] = asyncio.Event()  # never opened
    dispatcher = Dispatcher(delivery, Stats(), concurrency=2)
    dispatcher.accept(payload(1, "stuck"))
    dispatcher.accept(payload(1, "behind it"))
    await asyncio.sleep(0)
    assert await dispatcher.drain(grace=0.05) == 2
    assert dispatcher.pending == 0


@pytest.mark.parametrize("concurrency", [1, 5])
async def test_every_accepted_notification_is_delivered_once(concurrency: int) -> None:
    delivery = RecordingDelivery()
    dispatcher = Dispatcher(delivery, Stats(), concurrency=concurrency)
    expected = [(user, f"{user}-{i}") for i in range(20) for user in range(7)]
    for user, message in expected:
        dispatcher.accept(payload(user, message))
    await settle(dispatcher)
    assert sorted((n.user_id, n.message) for n in delivery.delivered) == sorted(expected)
