"""The notifications a publisher sends, built from its arguments and checked by the bot's own
model (ValueError in one line naming the field, for what the bot would refuse), as the JSON
payloads that go on the stream or the channel; and what publishing one returns."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Unpack

from bot.notification.parsing import parse_fields
from bot.notification.schema import REMIND_MIN_SECONDS, Notification, Priority
from bot.publisher.options import Button, EditOptions, FanOutOptions, Options, Receipts
from bot.store.deployment import MARK_FIELD


def encode(user_id: int, message: str, **options: Unpack[Options]) -> str:
    """The JSON payload for one notification, for a publisher of your own (e.g. XADD it).

    Args:
        user_id: the web app's id of the user to notify.
        message: the text, read as `format` says.
        **options: as for `Publisher.publish`.

    Returns:
        The JSON, checked by the model the bot parses it with; fields left at their defaults
        are left out.

    Raises:
        ValueError: one line naming the field, for a notification the bot would refuse.
    """
    return payload(send(user_id, message, options))


def send(
    user_id: int,
    message: str | None,
    options: Options,
    *,
    template: str | None = None,
    data: Mapping[str, Any] | None = None,
    remind_min_seconds: int = REMIND_MIN_SECONDS,
) -> Notification:
    content = _content(message, template, data)
    return _validate({**options, "user_id": user_id, **content}, remind_min_seconds)


def edit(
    id: str,
    user_id: int,
    message: str | None,
    options: EditOptions,
    *,
    template: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Notification:
    content = _content(message, template, data)
    return _validate({**options, "op": "edit", "id": id, "user_id": user_id, **content})


def delete(id: str, user_id: int, priority: Priority | None) -> Notification:
    return _validate({"op": "delete", "id": id, "user_id": user_id, "priority": priority})


def cancel(id: str) -> Notification:
    return _validate({"op": "cancel", "id": id})


def ack(id: str, user_id: int, priority: Priority | None) -> Notification:
    return _validate({"op": "ack", "id": id, "user_id": user_id, "priority": priority})


def fan_out(
    users: Sequence[int] | Literal["all"],
    message: str | None,
    id: str | None,
    receipts: Receipts,
    options: FanOutOptions,
    *,
    template: str | None = None,
    data: Mapping[str, Any] | None = None,
) -> Notification:
    audience = {"audience": "all"} if users == "all" else {"user_ids": users}
    content = _content(message, template, data)
    return _validate({**options, **audience, **content, "id": id, "receipts": receipts})


def _content(
    message: str | None, template: str | None, data: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The message, or the template and its data; the model says which of them is missing or
    one too many."""
    # Not a mapping (an untyped caller's list): the model refuses it, naming the field.
    plain = _json(data) if isinstance(data, Mapping) else data
    return {"message": message, "template": template, "data": plain}


def _json(data: Mapping[str, Any]) -> dict[str, Any]:
    """`data` as a dict, if JSON can carry it: a datetime, say, would fail later in json.dumps
    with a TypeError that names no key (the bot only ever reads data from JSON)."""
    plain = dict(data)
    try:
        json.dumps(plain)
    except (TypeError, ValueError) as exc:
        where, why = "data", exc
        for key, value in plain.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError) as value_exc:
                where, why = f"data.{key}", value_exc
                break
        raise ValueError(
            f"invalid notification: {where}: {why} (data is sent as JSON: strings, numbers, "
            "booleans, null, lists and objects)"
        ) from None
    return plain


def _validate(fields: dict[str, Any], remind_min_seconds: int = REMIND_MIN_SECONDS) -> Notification:
    """The notification `fields` make, checked by the bot's own model, then for what only the
    publisher can tell (a moment already past); ValueError with one line naming the field."""
    # None stands for "not given": an edit tells a left-out field from one set to change.
    # reply=False too: no reply field, as when it is left out.
    given = {
        name: value
        for name, value in fields.items()
        if value is not None and not (name == "reply" and value is False)
    }
    if "buttons" in given:
        given["buttons"] = [
            [button.to_json() if isinstance(button, Button) else button for button in row]
            for row in given["buttons"]
        ]
    if "deliver_at" in given:
        given["deliver_at"] = _from_now(given["deliver_at"])
    if isinstance(given.get("reply"), str):
        given["reply"] = {"placeholder": given["reply"]}
    if "remind" in given:
        given["remind"] = _remind(given["remind"])
    try:
        # its message read as the bot reads it
        notification = parse_fields(given, remind_min_seconds=remind_min_seconds).notification
    except ValueError as exc:
        raise ValueError(f"invalid notification: {exc}") from None
    _check_moments(notification, time.time())
    return notification


def _remind(remind: object) -> object:
    """remind as the JSON has it: `(every, times)` becomes {"every": ..., "times": ...}; a
    mapping is passed on as it is, anything else for the model to refuse."""
    if isinstance(remind, Mapping):
        return dict(remind)
    if isinstance(remind, tuple):
        if len(remind) != 2:
            raise ValueError(
                "invalid notification: remind: give (every, times), e.g. (600, 3), "
                f"not {len(remind)} values"
            )
        return {"every": remind[0], "times": remind[1]}
    return remind


def _from_now(deliver_at: object) -> object:
    """deliver_at as the bot reads it: a number given here is seconds from now."""
    if isinstance(deliver_at, bool) or not isinstance(deliver_at, int | float):
        return deliver_at  # a datetime or an ISO 8601 string: the model reads (or refuses) it
    if not deliver_at >= 0:  # NaN too
        raise ValueError("invalid notification: deliver_at: seconds from now must be 0 or more")
    return round(time.time() + deliver_at, 3)


def _check_moments(notification: Notification, now: float) -> None:
    for name in ("expires_at", "deliver_at"):
        value = getattr(notification, name)
        if value is not None and not math.isfinite(value):
            raise ValueError(f"invalid notification: {name}: not a finite time")
    # The bot would only count it expired: refused here, where the mistake can be fixed.
    if notification.expires_at is not None and notification.expires_at <= now:
        raise ValueError("invalid notification: expires_at is in the past")
    expires = notification.expires(now)  # ttl counts from publishing, i.e. now
    deliver_at = notification.deliver_at
    if deliver_at is not None and expires is not None and deliver_at >= expires:
        raise ValueError("invalid notification: deliver_at: not before it expires (expires_at/ttl)")


def payload(notification: Notification, deployment: str | None = None) -> str:
    data = notification.model_dump(exclude_defaults=True, exclude_none=True)
    if deployment is not None:
        # Channels are server-wide: the bots of other databases of this server hear it too.
        data[MARK_FIELD] = deployment
    if notification.op == "edit" and "buttons" in notification.model_fields_set:
        # An edit shows only the buttons it carries: [] must reach the bot to remove them all.
        data.setdefault("buttons", [])
    return json.dumps(data, ensure_ascii=False)


class Published(int):
    """What `publish` returns: an int, as it always did, so `if publish(...) > 0` still works.

    Queued on the durable stream: 1 (its one receiver, the bot's consumer group, delivers it
    even if no bot runs now) and `entry_id` is the stream entry's id. With via="pubsub": the
    number of bots that received it (0: none was listening, it is lost) and `entry_id` None.
    """

    entry_id: str | None

    def __new__(cls, receivers: int, entry_id: str | None = None) -> Published:
        published = super().__new__(cls, receivers)
        published.entry_id = entry_id
        return published

    def __repr__(self) -> str:
        return f"Published({int(self)}, entry_id={self.entry_id!r})"

    def __str__(self) -> str:  # int's, not the repr above (int has no __str__ of its own)
        return str(int(self))
