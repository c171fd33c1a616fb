"""Turns by priority: high before normal before bulk, arrival order within one, bulk never
starved."""

from __future__ import annotations

import asyncio

from bot.loops.turns import Turns


async def _order_of(turns: Turns, ranks: list[int]) -> list[int]:
    """Queue one waiter per rank behind a holder, release, and return who got turns in order."""
    order: list[int] = []
    await turns.acquire(0)  # held: everyone else queues

    async def wait(number: int, rank: int) -> None:
        async with turns.turn(rank):
            order.append(number)

    tasks = [asyncio.create_task(wait(n, rank)) for n, rank in enumerate(ranks)]
    await asyncio.sleep(0)  # all of them queue
    turns.release()
    await asyncio.gather(*tasks)
    return order


async def test_a_high_waiter_goes_before_earlier_normal_and_bulk_ones() -> None:
    order = await _order_of(Turns(1), [2, 1, 2, 0, 1])
    assert order == [3, 1, 4, 0, 2]


async def test_bulk_gets_every_tenth_turn_under_a_flood_of_high_ones() -> None:
    ranks = [2] * 3 + [0] * 30
    order = await _order_of(Turns(1), ranks)
    bulk_turns = [position for position, number in enumerate(order) if ranks[number] == 2]
    assert bulk_turns == [9, 19, 29]


async def test_a_cancelled_waiter_gives_its_turn_on() -> None:
    turns = Turns(1)
    await turns.acquire(1)
    gone = asyncio.create_task(turns.acquire(0))
    kept = asyncio.create_task(turns.acquire(2))
    await asyncio.sleep(0)
    gone.cancel()
    await asyncio.gather(gone, return_exceptions=True)
    turns.release()
    await asyncio.wait_for(kept, 1)
    assert turns.waiting == 0
