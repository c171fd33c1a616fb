"""The Telegram error policy as a table: each error a send can raise, the verdict on it. Errors
are python-telegram-bot's classes, built as its request wrapper builds them from Telegram's
answers ("Bad Request: " cut off and the rest capitalized; telegram/request/_baserequest.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.loops.reconnect import OutageTooLong
from bot.notification import Outcome
from bot.telegram.compose import Call
from bot.telegram.policy import (
    ANSWERED,
    MAX_FLOOD_WAITS,
    MAX_MIGRATIONS,
    NO_TRIES,
    RECOVERED,
    Act,
    Probe,
    RetryPolicy,
    Tries,
    Verdict,
    expired,
    needs_probe,
    verdict,
)
from bot.telegram.sender import TooLate
from bot.telegram.transport import NotConnected

SEND = Call("sendMessage", {"text": "hi"})
EDIT = Call("editMessageText", {"message_id": 7, "text": "hi"})
DELETE = Call("deleteMessage", {"message_id": 7})
PRIVATE, GROUP = 42, -1001
RETRY = RetryPolicy(max_attempts=4)
GONE = "telegram_sending unavailable for 600 s"
FIRST, SECOND, LAST = Tries(attempts=1), Tries(attempts=2), Tries(attempts=RETRY.max_attempts)
THREAD_GONE = "Message thread not found"
TOPIC_HINT = "the topic this group was linked from is gone: link the group again"


def bad_request(description: str) -> BadRequest:
    """As python-telegram-bot raises it for a 400 with that description."""
    return BadRequest(f"Bad Request: {description}")


def flood(seconds: int) -> RetryAfter:
    return RetryAfter(timedelta(seconds=seconds))


TABLE = [
    # Nothing went out: a pacer's turn past the deadline, or Telegram away before the send.
    (TooLate(), SEND, NO_TRIES, ANSWERED,
     Verdict(Act.FAIL, NO_TRIES, Outcome.EXPIRED, "expired while it waited its turn")),
    (OutageTooLong(GONE), SEND, FIRST, ANSWERED,
     Verdict(Act.FAIL, FIRST, Outcome.FAILED, GONE)),
    # 429: every send pauses; free of the retry budget, but at most MAX_FLOOD_WAITS.
    (flood(3), SEND, FIRST, ANSWERED,
     Verdict(Act.WAIT, Tries(1, flood_waits=1), pause=3.0)),
    (flood(3), SEND, Tries(1, flood_waits=MAX_FLOOD_WAITS), ANSWERED,
     Verdict(Act.FAIL, Tries(1, flood_waits=MAX_FLOOD_WAITS + 1),
             reason=f"still flood-limited after {MAX_FLOOD_WAITS + 1} waits", pause=3.0)),
    # 401 (and 404, a malformed token): no notification is at fault.
    (InvalidToken("Unauthorized"), SEND, FIRST, ANSWERED,
     Verdict(Act.HALT, FIRST, reason="Unauthorized")),
    # 400 with migrate_to_chat_id: followed, MAX_MIGRATIONS times at most.
    (ChatMigrated(-1002), SEND, NO_TRIES, ANSWERED,
     Verdict(Act.MIGRATE, Tries(1, migrations=1), moved_to=-1002)),
    (ChatMigrated(-1002), SEND, Tries(MAX_MIGRATIONS, migrations=MAX_MIGRATIONS), ANSWERED,
     Verdict(Act.FAIL, Tries(MAX_MIGRATIONS + 1, migrations=MAX_MIGRATIONS + 1),
             reason=f"chat migrated more than {MAX_MIGRATIONS} times")),
    # 403: no retry; the chat's link goes (see below for why, by chat).
    (Forbidden("Forbidden: bot was blocked by the user"), SEND, NO_TRIES, ANSWERED,
     Verdict(Act.UNLINK, FIRST, Outcome.BLOCKED, "Forbidden: bot was blocked by the user",
             unlinked="blocked")),
    # Other 400s: final; for an edit or a delete some mean it is done.
    (bad_request("chat not found"), SEND, NO_TRIES, ANSWERED,
     Verdict(Act.FAIL, FIRST, reason="Chat not found")),
    (bad_request("message is not modified: specified new message content and reply markup "
                 "are exactly the same"), EDIT, NO_TRIES, ANSWERED,
     Verdict(Act.DONE, FIRST, Outcome.SENT, message_ids=(7,))),
    (bad_request("message to edit not found"), EDIT, NO_TRIES, ANSWERED,
     Verdict(Act.FAIL, FIRST, Outcome.NOT_FOUND,
             "Message to edit not found (deleted in the chat?)")),
    (bad_request("message to delete not found"), DELETE, NO_TRIES, ANSWERED,
     Verdict(Act.DONE, FIRST, Outcome.SENT)),
    (bad_request("message can't be deleted for everyone"), DELETE, NO_TRIES, ANSWERED,
     Verdict(Act.FAIL, FIRST, reason="Message can't be deleted for everyone "
             "(Telegram lets a bot delete a message for 48 hours)")),
    (bad_request("message thread not found"), SEND, NO_TRIES, ANSWERED,
     Verdict(Act.FAIL, FIRST, reason=THREAD_GONE)),  # a topic the notification named
    # Timeouts, connection errors, 5xx, after the probe: counted unless nothing can have
    # reached a Telegram that was away; backed off when Telegram answered the probe at once.
    (TimedOut(), SEND, NO_TRIES, ANSWERED,
     Verdict(Act.RETRY, FIRST, reason="Timed out", backoff=True)),
    (TimedOut(), SEND, NO_TRIES, RECOVERED,
     Verdict(Act.RETRY, FIRST, reason="Timed out")),
    (NotConnected("Could not connect: refused"), SEND, FIRST, RECOVERED,
     Verdict(Act.RETRY, FIRST, reason="Could not connect: refused")),
    (NotConnected("Could not connect: refused"), SEND, FIRST, ANSWERED,
     Verdict(Act.RETRY, SECOND, reason="Could not connect: refused", backoff=True)),
    (NetworkError("Connection closed without an answer"), SEND, FIRST, RECOVERED,
     Verdict(Act.RETRY, SECOND, reason="Connection closed without an answer")),
    (NetworkError("Bad Gateway"), SEND, Tries(RETRY.max_attempts - 1), ANSWERED,
     Verdict(Act.FAIL, LAST, reason=f"Bad Gateway (after {RETRY.max_attempts} attempts)")),
    (NetworkError("Internal Server Error (500)"), SEND, FIRST, Probe(True, GONE),
     Verdict(Act.FAIL, SECOND, reason=f"Internal Server Error (500); {GONE}")),
    # Anything else Telegram answered: final.
    (Conflict("Conflict: terminated by other getUpdates request"), SEND, NO_TRIES, ANSWERED,
     Verdict(Act.FAIL, FIRST, reason="Conflict: terminated by other getUpdates request")),
    (TelegramError("Invalid server response"), SEND, NO_TRIES, ANSWERED,
     Verdict(Act.FAIL, FIRST, reason="Invalid server response")),
]  # fmt: skip


@pytest.mark.parametrize(
    ("error", "call", "tries", "probe", "expected"),
    TABLE,
    ids=[f"{type(row[0]).__name__}-{row[1].method}-{i}" for i, row in enumerate(TABLE)],
)
def test_each_error_gets_its_verdict(
    error: Exception, call: Call, tries: Tries, probe: Probe, expected: Verdict
) -> None:
    assert verdict(error, call, tries, chat_id=PRIVATE, retry=RETRY, probe=probe) == expected


@pytest.mark.parametrize(
    ("chat_id", "why"),
    [(PRIVATE, "blocked"), (GROUP, "removed")],
)
def test_a_403_unlinks_a_private_chat_as_blocked_and_a_group_or_channel_as_removed(
    chat_id: int, why: str
) -> None:
    kicked = Forbidden("Forbidden: bot was kicked from the supergroup chat")
    decided = verdict(kicked, DELETE, NO_TRIES, chat_id=chat_id, retry=RETRY)
    assert (decided.act, decided.outcome, decided.unlinked) == (Act.UNLINK, Outcome.BLOCKED, why)


def test_a_missing_topic_of_the_chats_link_fails_with_a_hint_to_link_again() -> None:
    decided = verdict(
        bad_request("message thread not found"),
        SEND,
        NO_TRIES,
        chat_id=GROUP,
        retry=RETRY,
        topic_from_link=True,
    )
    assert decided == Verdict(
        Act.FAIL, FIRST, reason=f"{THREAD_GONE} ({TOPIC_HINT})", topic_gone=True
    )


@pytest.mark.parametrize(
    ("tries", "reason"),
    [
        (NO_TRIES, "expired before its first attempt"),
        (Tries(flood_waits=1), "expired before it could be sent again"),
        (FIRST, "expired before it could be sent again"),
    ],
)
def test_an_expired_call_says_whether_it_was_tried(tries: Tries, reason: str) -> None:
    assert expired(tries) == Verdict(Act.FAIL, tries, Outcome.EXPIRED, reason)


@pytest.mark.parametrize(
    ("error", "probed"),
    [
        (TimedOut(), True),
        (NotConnected("Could not connect"), True),
        (NetworkError("Bad Gateway"), True),
        (bad_request("chat not found"), False),  # a NetworkError to python-telegram-bot
        (Forbidden("Forbidden: bot was blocked by the user"), False),
        (flood(1), False),
        (InvalidToken(), False),
    ],
)
def test_only_a_transport_error_makes_every_send_wait_for_a_probe(
    error: Exception, probed: bool
) -> None:
    assert needs_probe(error) is probed
