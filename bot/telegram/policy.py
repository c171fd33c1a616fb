"""The Telegram error policy: what each answer to a send means, as a verdict (pure, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import Enum
from typing import Literal, NamedTuple

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.loops.reconnect import OutageTooLong
from bot.notification import Outcome
from bot.telegram.compose import Call
from bot.telegram.sender import TooLate
from bot.telegram.transport import NotConnected

# 429s do not use up the retry budget (Telegram told us exactly when to come back), but a
# server that never stops saying 429 must not keep a notification forever.
MAX_FLOOD_WAITS = 20
MAX_MIGRATIONS = 3  # a group becomes a supergroup once; a chain of them is Telegram misbehaving

# Everything a send can raise that the policy has a verdict for: python-telegram-bot's classes
# (sender.py raises them for the same answers), a pacer's turn that came too late, and a
# Telegram outage that lasted longer than a notification may wait.
ERRORS = (TelegramError, TooLate, OutageTooLong)

TOPIC_GONE_HINT = "the topic this group was linked from is gone: link the group again"
DELETE_HINT = "Telegram lets a bot delete a message for 48 hours"


@dataclass(frozen=True)
class RetryPolicy:
    """How transient failures (timeouts, connection errors, 5xx) are retried."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0


class Act(Enum):
    """What a delivery does next with the call Telegram did not take."""

    RETRY = "retry"  # send it again: at once, or after a backoff (`Verdict.backoff`)
    WAIT = "wait"  # send it again once the pacer lets it: every send pauses (`Verdict.pause`)
    HALT = "halt"  # the bot token was refused: send nothing until Telegram takes it, then again
    MIGRATE = "migrate"  # the group became a supergroup: send it there; the link follows
    UNLINK = "unlink"  # the chat refused the bot (403): no retry, and the link goes
    FAIL = "fail"  # no retry: the same request would fail the same way (or ran out of budget)
    DONE = "done"  # refused, yet what was asked for is so (edited already, deleted already)


class Tries(NamedTuple):
    """What one call has used of its budgets."""

    attempts: int = 0  # sends that may have reached Telegram: the retry budget counts these
    flood_waits: int = 0  # 429s waited out: free of the retry budget, but bounded
    migrations: int = 0  # supergroups followed


NO_TRIES = Tries()


class Probe(NamedTuple):
    """What the getMe probe after a transport error found: was Telegram itself away?"""

    was_down: bool  # a probe failed before one answered; False: this request's own failure
    gave_up: str | None = None  # away longer than a notification may wait: why


ANSWERED = Probe(was_down=False)
RECOVERED = Probe(was_down=True)


@dataclass(frozen=True, slots=True)
class Verdict:
    """One error's meaning: what to do (`act`), the budgets used with this try counted, and,
    when it ends the call (FAIL, UNLINK, DONE), its outcome and why."""

    act: Act
    tries: Tries
    outcome: Outcome = Outcome.FAILED
    reason: str | None = None  # also for RETRY and HALT: the error, for the log
    message_ids: tuple[int, ...] = ()  # DONE: the message it leaves (an edit not needed)
    pause: float = 0.0  # Telegram's retry_after: every send pauses this long, whatever the act
    backoff: bool = False  # RETRY: Telegram answers, this request did not: wait before it
    moved_to: int | None = None  # MIGRATE: the supergroup's chat id
    unlinked: Literal["blocked", "removed"] | None = None  # UNLINK: why, as link events say
    topic_gone: bool = False  # FAIL: the topic the chat was linked from is gone (logged)


def needs_probe(error: Exception) -> bool:
    """Whether `error` may mean Telegram is away (a timeout, a connection error, a 5xx): then
    getMe is asked before the verdict (a Probe), and every send waits for its answer."""
    return isinstance(error, NetworkError) and not isinstance(error, BadRequest)


def verdict(  # noqa: PLR0911 - one return per kind of answer: the table in one place
    error: Exception,
    call: Call,
    tries: Tries,
    *,
    chat_id: int,
    retry: RetryPolicy,
    probe: Probe = ANSWERED,
    topic_from_link: bool = False,
) -> Verdict:
    """The verdict on `error` (one of ERRORS), raised by `call` to `chat_id` after `tries`.

    Args:
        probe: for an error that `needs_probe`, what the probe found.
        topic_from_link: the call goes to the topic the chat was linked from (not one the
            notification named): a "thread not found" then means that topic is gone.
    """
    if isinstance(error, TooLate):
        return Verdict(Act.FAIL, tries, Outcome.EXPIRED, "expired while it waited its turn")
    if isinstance(error, OutageTooLong):  # waited for Telegram before sending: nothing went out
        return Verdict(Act.FAIL, tries, Outcome.FAILED, str(error))
    if isinstance(error, RetryAfter):
        return _flood_wait(error, tries._replace(flood_waits=tries.flood_waits + 1))
    if isinstance(error, InvalidToken):
        # Not this notification's fault (401, or 404 for a malformed token): kept, and sent
        # once the token works again, which in practice takes a restart with a new BOT_TOKEN.
        return Verdict(Act.HALT, tries, reason=error.message)
    counted = tries._replace(attempts=tries.attempts + 1)
    if isinstance(error, ChatMigrated):
        counted = counted._replace(migrations=tries.migrations + 1)
        if counted.migrations > MAX_MIGRATIONS:
            return Verdict(
                Act.FAIL, counted, reason=f"chat migrated more than {MAX_MIGRATIONS} times"
            )
        return Verdict(Act.MIGRATE, counted, moved_to=error.new_chat_id)
    if isinstance(error, Forbidden):  # blocked, deactivated; kicked from a group or channel
        why: Literal["blocked", "removed"] = "blocked" if chat_id > 0 else "removed"
        return Verdict(Act.UNLINK, counted, Outcome.BLOCKED, error.message, unlinked=why)
    if isinstance(error, BadRequest):
        return _refused(error, call, counted, topic_from_link=topic_from_link)
    if isinstance(error, NetworkError):
        return _unreachable(error, tries, counted, probe, retry)
    # Anything else Telegram answered (409, an answer that is no message): sent, maybe; the
    # same request would get the same answer.
    assert isinstance(error, TelegramError)  # noqa: S101 - ERRORS has no other kind
    return Verdict(Act.FAIL, counted, reason=error.message)


def expired(tries: Tries) -> Verdict:
    """The verdict on a call whose notification expired before a (next) try."""
    when = "its first attempt" if tries == NO_TRIES else "it could be sent again"
    return Verdict(Act.FAIL, tries, Outcome.EXPIRED, f"expired before {when}")


def _flood_wait(error: RetryAfter, tries: Tries) -> Verdict:
    """429: every send pauses for retry_after, then this one is sent again; a server that
    never stops saying 429 must not keep a notification for ever (it pauses all the same)."""
    pause = _seconds(error.retry_after)
    if tries.flood_waits > MAX_FLOOD_WAITS:
        reason = f"still flood-limited after {tries.flood_waits} waits"
        return Verdict(Act.FAIL, tries, reason=reason, pause=pause)
    return Verdict(Act.WAIT, tries, pause=pause)


def _refused(error: BadRequest, call: Call, tries: Tries, *, topic_from_link: bool) -> Verdict:
    """400: Telegram said no for good; the same request would fail the same way. For an edit
    or a delete, some of these mean it is done already, or cannot be done."""
    text = error.message.lower()
    if "message is not modified" in text:  # the edit asks for what it shows already
        return Verdict(Act.DONE, tries, Outcome.SENT, message_ids=(int(call.params["message_id"]),))
    if call.method == "deleteMessage":
        if "not found" in text:  # deleted in the chat already: gone, as asked
            return Verdict(Act.DONE, tries, Outcome.SENT)
        if "can't be deleted" in text:
            return Verdict(Act.FAIL, tries, reason=f"{error.message} ({DELETE_HINT})")
    if call.method.startswith("edit") and "not found" in text:
        reason = f"{error.message} (deleted in the chat?)"
        return Verdict(Act.FAIL, tries, Outcome.NOT_FOUND, reason)
    if topic_from_link and "thread not found" in text:
        # Deleted since the group was linked from it; Telegram sends no update for that.
        reason = f"{error.message} ({TOPIC_GONE_HINT})"
        return Verdict(Act.FAIL, tries, reason=reason, topic_gone=True)
    return Verdict(Act.FAIL, tries, reason=error.message)


def _unreachable(
    error: NetworkError, tries: Tries, counted: Tries, probe: Probe, retry: RetryPolicy
) -> Verdict:
    """A timeout, a connection error or a 5xx, once the probe says whether Telegram was away.

    A timed-out or cut request may have arrived: it counts against the retry budget, so a
    Telegram that keeps failing this way makes no copies without end (a rare duplicate is the
    price of not losing notifications when Telegram is slow)."""
    if probe.gave_up is not None:
        return Verdict(Act.FAIL, counted, reason=f"{error.message}; {probe.gave_up}")
    if probe.was_down and isinstance(error, NotConnected):
        # Nothing reached a Telegram that was away: sent again, free of the retry budget.
        return Verdict(Act.RETRY, tries, reason=error.message)
    if counted.attempts >= retry.max_attempts:
        reason = f"{error.message} (after {counted.attempts} attempts)"
        return Verdict(Act.FAIL, counted, reason=reason)
    # Telegram answers getMe but not this request: back off before the next try.
    return Verdict(Act.RETRY, counted, reason=error.message, backoff=not probe.was_down)


def _seconds(value: int | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
