"""What finally happened to a notification: the outcomes counted, logged and sent as receipts."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """What finally happened to one notification."""

    SENT = "sent"
    UNLINKED = "unlinked"  # no chat is linked to the user id
    BLOCKED = "blocked"  # Telegram said 403: the user blocked the bot; the link was removed
    FAILED = "failed"  # Telegram refused it or stayed unreachable
    INVALID = "invalid"  # the payload was not a valid notification
    DUPLICATE = "duplicate"  # its id was delivered before, within the idempotency window
    EDITED = "edited"  # op edit: the message(s) sent for the id show the new content
    DELETED = "deleted"  # op delete: the message(s) sent for the id are gone
    CANCELLED = "cancelled"  # op cancel: a scheduled notification or a fan-out was stopped
    NOT_FOUND = "not_found"  # op edit/delete/cancel: nothing (or nothing remembered) has the id
    EXPIRED = "expired"  # its expires_at/ttl passed before it could be sent
    SCHEDULED = "scheduled"  # held in Redis until its deliver_at
    MUTED = "muted"  # its category is one the user turned off
    HELD = "held"  # the user's quiet hours: held in Redis until they end
    DIGESTED = "digested"  # added to the user's digest of its category, sent at the window's end
    ACKNOWLEDGED = "acknowledged"  # op ack: its reminders stopped (or none were pending)
    UNACKNOWLEDGED = "unacknowledged"  # its last reminder went unanswered: an event says so
