"""Redis work as data: a plan yields the commands it needs and decides on their replies without
doing I/O, so that one plan serves a blocking and an asyncio client alike (the web app's two
publishers, the bot's stores); `run` and `run_async` are its two drivers.

A plan is a generator: it yields a `Command` (its reply is sent back in, its RedisError
raised in) or a `Transaction` (reads under WATCH, a pure decision on their replies, the writes
in MULTI/EXEC; what the decision returns is sent back in), and returns the operation's result.
A `Feed` also yields values for its caller as it goes (a stream's events): `feed` and
`feed_async` drive it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from dataclasses import dataclass, field
from functools import partial
from types import MappingProxyType
from typing import Any, Generic, NamedTuple, TypeAlias, TypeVar

import redis
import redis.asyncio
import redis.client
from redis.asyncio.client import Pipeline as AsyncPipeline
from redis.exceptions import RedisError

T = TypeVar("T")

_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


class Command(NamedTuple):
    """One Redis command as redis-py's method of that name takes it: `Command("hget", (k, f))`."""

    method: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = _NO_OPTIONS


class Writes:
    """The commands of a change, recorded as a pipeline would queue them (`writes.hset(...)`),
    so that the helpers that queue a change on a pipeline fill it too."""

    def __init__(self) -> None:
        self.commands: list[Command] = []

    def __getattr__(self, method: str) -> Callable[..., None]:
        def queue(*args: Any, **kwargs: Any) -> None:
            self.commands.append(Command(method, args, kwargs))

        return queue


@dataclass(frozen=True)
class Transaction(Generic[T]):
    """Read `reads` with `watch` watched, then `decide` on their replies: the result and what to
    write in one MULTI/EXEC. When a watched key changes before EXEC, Redis refuses it and the
    driver starts again from the reads: `decide` must be pure (and may raise to write nothing)."""

    watch: tuple[str, ...]
    reads: tuple[Command, ...]
    decide: Callable[[list[Any]], tuple[T, Writes]] = field(repr=False)


Step: TypeAlias = Command | Transaction[Any]
Plan: TypeAlias = Generator[Step, Any, T]


def transact(transaction: Transaction[T]) -> Plan[T]:
    """`yield from transact(...)`: the transaction's result, typed (a bare yield is Any)."""
    result: T = yield transaction
    return result


def run(client: redis.Redis, plan: Plan[T]) -> T:
    """Carry out `plan` with a blocking client. A command's RedisError is raised in the plan,
    which may handle it."""
    resume: Callable[[], Step] = partial(plan.send, None)
    while True:
        try:
            step = resume()
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            if isinstance(step, Command):
                reply = _call(client, step)
            else:
                reply = client.transaction(_attempt(step), *step.watch, value_from_callable=True)
        except RedisError as exc:
            resume = partial(plan.throw, exc)
        else:
            resume = partial(plan.send, reply)


async def run_async(client: redis.asyncio.Redis, plan: Plan[T]) -> T:
    """Carry out `plan` with an asyncio client, as `run` does."""
    resume: Callable[[], Step] = partial(plan.send, None)
    while True:
        try:
            step = resume()
        except StopIteration as done:
            result: T = done.value
            return result
        try:
            if isinstance(step, Command):
                reply = await _call(client, step)
            else:
                reply = await client.transaction(
                    _attempt_async(step), *step.watch, value_from_callable=True
                )
        except RedisError as exc:
            resume = partial(plan.throw, exc)
        else:
            resume = partial(plan.send, reply)


# A plan that hands values to its caller as it goes (the events a stream's reader yields):
# each item it yields is a command to carry out, or a value for the caller.
Feed: TypeAlias = Generator[Command | T, Any, None]


def feed(client: redis.Redis, plan: Feed[T]) -> Generator[T, None, None]:
    """The values of `plan`, carrying out its commands with a blocking client. A value's
    consumer that stops asking (a `break`) stops the plan there: what follows it (e.g. the
    value's acknowledgement) is not done."""
    resume: Callable[[], Command | T] = partial(plan.send, None)
    while True:
        try:
            step = resume()
        except StopIteration:
            return
        if not isinstance(step, Command):
            yield step
            resume = partial(plan.send, None)
            continue
        try:
            reply = _call(client, step)
        except RedisError as exc:
            resume = partial(plan.throw, exc)
        else:
            resume = partial(plan.send, reply)


async def feed_async(client: redis.asyncio.Redis, plan: Feed[T]) -> AsyncGenerator[T, None]:
    """`feed` with an asyncio client."""
    resume: Callable[[], Command | T] = partial(plan.send, None)
    while True:
        try:
            step = resume()
        except StopIteration:
            return
        if not isinstance(step, Command):
            yield step
            resume = partial(plan.send, None)
            continue
        try:
            reply = await _call(client, step)
        except RedisError as exc:
            resume = partial(plan.throw, exc)
        else:
            resume = partial(plan.send, reply)


def _attempt(transaction: Transaction[T]) -> Callable[[redis.client.Pipeline], T]:
    def attempt(pipe: redis.client.Pipeline) -> T:
        replies = [_call(pipe, read) for read in transaction.reads]  # at once: WATCHing
        result, writes = transaction.decide(replies)
        pipe.multi()
        for write in writes.commands:
            _call(pipe, write)  # queued until EXEC
        return result

    return attempt


def _attempt_async(transaction: Transaction[T]) -> Callable[[AsyncPipeline], Any]:
    async def attempt(pipe: AsyncPipeline) -> T:
        replies = [await _call(pipe, read) for read in transaction.reads]
        result, writes = transaction.decide(replies)
        pipe.multi()  # type: ignore[no-untyped-call]
        for write in writes.commands:
            _call(pipe, write)  # queued: after MULTI an asyncio pipeline returns itself
        return result

    return attempt


def _call(target: Any, command: Command) -> Any:
    return getattr(target, command.method)(*command.args, **command.kwargs)
