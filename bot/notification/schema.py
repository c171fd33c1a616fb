"""The notification as the web app writes it: the pydantic model, its field types and limits."""

from __future__ import annotations

import json
import re
import time
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot.formatting.entities import check_link
from bot.preferences import CATEGORY_NAME

MESSAGE_MAX_CHARS = 32_768  # default for MESSAGE_MAX_CHARS: eight Telegram messages' worth
INT64 = 2**63
MAX_BUTTONS = 100  # Telegram's limit for one message's inline keyboard
MAX_ACTION_CHARS = 1000
# A Telegram file_id: a long URL-safe base64 string (anything shorter is a typo, not an id).
FILE_ID = re.compile(r"[A-Za-z0-9_-]{20,}")

Format = Literal["text", "html", "markdown"]
Op = Literal["send", "edit", "delete", "cancel", "digest", "ack", "remind"]
Priority = Literal["high", "normal", "bulk"]
# The kinds of chat a user can link: a supergroup is a group.
ChatKind = Literal["private", "group", "channel"]
# Which of the user's chats a notification goes to (`chats`).
ChatsWanted = Literal["all", "private", "groups", "channels"]
# Lower goes first: the order of the dispatcher's and the pacer's queues.
PRIORITY_RANK: dict[str, int] = {"high": 0, "normal": 1, "bulk": 2}
MAX_FANOUT = 10_000  # user ids in one fan-out entry
MAX_SCHEDULE_AHEAD = 366 * 24 * 3600  # a year (a leap one included)
MAX_DATA_BYTES = 16 * 1024  # a template's data, as compact JSON in UTF-8
TEMPLATE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
REMIND_MIN_SECONDS = 60  # default for REMIND_MIN_SECONDS: the shortest `remind.every`
MAX_REMINDERS = 10
# What `expires_at` and `deliver_at` accept on the wire (a validator turns a string into Unix
# seconds before the float type sees it): the JSON Schema must say so, or a valid ISO 8601
# payload fails another language's validator.
MOMENT_JSON_SCHEMA: dict[str, Any] = {
    "anyOf": [{"type": "number"}, {"type": "string", "format": "date-time"}, {"type": "null"}]
}


class Button(BaseModel):
    """An inline button under the message: it opens `url`, or reports `action` back to the web
    app (the actions stream) when tapped."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    text: StrictStr = Field(min_length=1, max_length=200, description="The button's label.")
    url: StrictStr | None = Field(
        default=None, description="An http, https or tg link the button opens."
    )
    action: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_ACTION_CHARS,
        description='What a tap reports to the web app, e.g. "order-17:received".',
    )

    @model_validator(mode="after")
    def _valid(self) -> Button:
        # One validator for the whole button: a notification can carry a hundred of them.
        if not self.text.strip():
            raise ValueError("text must not be blank")
        _unicode(self.text)
        if (self.url is None) == (self.action is None):
            raise ValueError("a button needs either url or action, not both")
        if self.url is not None:
            check_link(self.url)
        if self.action is not None:
            _unicode(self.action)
        return self


class ReplyField(BaseModel):
    """`"reply": {"placeholder": ...}`: a reply field opens, showing the placeholder."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    placeholder: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Shown in the empty reply field (1-64 characters).",
    )


class Remind(BaseModel):
    """`"remind": {"every": 600, "times": 3}`: sent again until acknowledged."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    every: StrictInt = Field(
        ge=1,
        le=MAX_SCHEDULE_AHEAD,
        description="Seconds between reminders, at least REMIND_MIN_SECONDS "
        f"({REMIND_MIN_SECONDS} unless set lower).",
    )
    times: StrictInt = Field(
        ge=1, le=MAX_REMINDERS, description=f"Reminders at most (1 to {MAX_REMINDERS})."
    )


class Notification(BaseModel):
    """One chat message for one web-app user. Extra fields are ignored for forward compatibility.

    Everything but `user_id` and `message` is optional and off by default: `{"user_id": 42,
    "message": "hi"}` is plain text, sent as is.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    user_id: StrictInt | None = Field(
        default=None,
        ge=-INT64,
        lt=INT64,
        description="The web app's id of the user to notify (64-bit).",
    )
    message: StrictStr | None = Field(
        default=None,
        description="The text (the caption with photo or document), read as `format` says.",
    )
    template: StrictStr | None = Field(
        default=None,
        pattern=rf"^{TEMPLATE_NAME.pattern}$",
        description="Instead of a message: the name of a template (TEMPLATES_DIR), rendered "
        "in each reader's language; its format and buttons come with it.",
    )
    data: dict[str, Any] | None = Field(
        default=None,
        description=f"The template's values: a JSON object of at most {MAX_DATA_BYTES} bytes.",
    )
    id: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Optional idempotency key: the same id is delivered at most once.",
    )
    format: Format = Field(
        default="text",
        description="text (sent as is), html (Telegram's HTML tags) or markdown.",
    )
    buttons: list[list[Button]] | None = Field(
        default=None, description=f"Rows of inline buttons, at most {MAX_BUTTONS} in all."
    )
    silent: StrictBool = Field(default=False, description="Arrives without a sound.")
    preview: StrictBool = Field(default=True, description="false: no link preview.")
    protect: StrictBool = Field(default=False, description="Cannot be forwarded or saved.")
    thread_id: StrictInt | None = Field(
        default=None, ge=1, lt=2**31, description="The forum topic to post in."
    )
    photo: StrictStr | None = Field(
        default=None, description="An https URL or a Telegram file_id; the message is its caption."
    )
    document: StrictStr | None = Field(
        default=None, description="An https URL or a Telegram file_id; the message is its caption."
    )

    op: Op = Field(
        default="send",
        description="send, or edit/delete/cancel the earlier notification with this id; ack "
        "stops its reminders; remind sends its next reminder now (the bot's schedule does).",
    )
    expires_at: float | None = Field(
        default=None,
        json_schema_extra=MOMENT_JSON_SCHEMA,
        description="Not sent after this moment: ISO 8601 with a time zone, or Unix seconds.",
    )
    ttl: float | None = Field(
        default=None,
        gt=0,
        le=MAX_SCHEDULE_AHEAD,
        description="Not sent later than this many seconds after publishing.",
    )
    deliver_at: float | None = Field(
        default=None,
        json_schema_extra=MOMENT_JSON_SCHEMA,
        description="Held until this moment (ISO 8601 with a time zone, or Unix seconds).",
    )
    priority: Priority | None = Field(
        default=None,
        description="high, normal (the default) or bulk (the default of a fan-out).",
    )
    user_ids: list[StrictInt] | None = Field(
        default=None,
        description=f"Fan-out: the same notification to each of these users (1 to {MAX_FANOUT}).",
    )
    audience: Literal["all"] | None = Field(
        default=None, description='Fan-out: "all" sends it to every linked user.'
    )
    receipts: Literal["summary", "each"] = Field(
        default="summary",
        description="Fan-out: one receipt at the end (summary) or one per recipient too (each).",
    )
    category: StrictStr | None = Field(
        default=None,
        pattern=rf"^{CATEGORY_NAME.pattern}$",
        description="Its kind (CATEGORIES): not sent to a user who muted it, digested if asked.",
    )
    mute_button: StrictBool = Field(
        default=False, description="A button under it that mutes its category for the user."
    )
    chats: ChatsWanted = Field(
        default="all",
        description="Which of the user's chats: all (the default), private, groups or channels.",
    )
    reply: StrictBool | ReplyField | None = Field(
        default=None,
        description='true (or {"placeholder": ...}): a reply field opens under it; what '
        "the user answers comes back on FEEDBACK_STREAM. Needs an id; not with buttons.",
    )
    remind: Remind | None = Field(
        default=None,
        description="Sent again every `every` seconds, `times` times at most, until "
        "acknowledged (a tap, a reply, a reaction, op ack). Needs an id.",
    )
    deployment: StrictStr | None = Field(
        default=None,
        max_length=64,
        description="Pub/sub only, set by the publisher: the deployment it is meant for, "
        "'<bot id>/<db>'. A bot of another deployment on the same Redis server (channels "
        "ignore the database) drops it; left out, every bot listening on the channel takes it.",
    )

    @field_validator("message")
    @classmethod
    def _sendable(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not value.strip():
            # Telegram rejects blank text ("message text is empty"): fail here, with a reason.
            raise ValueError("must not be empty")
        limit = (info.context or {}).get("max_chars", MESSAGE_MAX_CHARS)
        if len(value) > limit:
            raise ValueError(
                f"{len(value)} characters, over the limit of {limit} (MESSAGE_MAX_CHARS)"
            )
        return _unicode(value)

    @field_validator("data")
    @classmethod
    def _data(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())
        if size > MAX_DATA_BYTES:
            raise ValueError(f"{size} bytes as JSON, over the limit of {MAX_DATA_BYTES}")
        return value

    @field_validator("remind")
    @classmethod
    def _remind_every(cls, value: Remind | None, info: ValidationInfo) -> Remind | None:
        least = (info.context or {}).get("remind_min_seconds", REMIND_MIN_SECONDS)
        if value is not None and value.every < least:
            raise ValueError(f"every: {value.every} s, under {least} s (REMIND_MIN_SECONDS)")
        return value

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str | None) -> str | None:
        return None if value is None else _unicode(value)

    @field_validator("buttons")
    @classmethod
    def _keyboard(cls, rows: list[list[Button]] | None) -> list[list[Button]] | None:
        if rows is None:
            return None
        for number, row in enumerate(rows):
            if not row:
                raise ValueError(f"row {number} is empty")
        count = sum(len(row) for row in rows)
        if count > MAX_BUTTONS:
            raise ValueError(f"{count} buttons, over Telegram's limit of {MAX_BUTTONS}")
        return rows or None

    @field_validator("expires_at", "deliver_at", mode="before")
    @classmethod
    def _moment(cls, value: object) -> object:
        return None if value is None else moment(value)

    @field_validator("deliver_at")
    @classmethod
    def _not_too_far(cls, value: float | None) -> float | None:
        if value is not None and value > time.time() + MAX_SCHEDULE_AHEAD:
            raise ValueError("more than a year ahead")
        return value

    @field_validator("user_ids")
    @classmethod
    def _recipients(cls, ids: list[int] | None) -> list[int] | None:
        if ids is None:
            return None
        if not ids:
            raise ValueError("must not be empty")
        if len(ids) > MAX_FANOUT:
            raise ValueError(f"{len(ids)} ids, over the limit of {MAX_FANOUT}")
        for number, user_id in enumerate(ids):
            if not -INT64 <= user_id < INT64:
                raise ValueError(f"id {number} is not a 64-bit integer")
        return ids

    @field_validator("photo", "document")
    @classmethod
    def _media(cls, value: str | None) -> str | None:
        if value is None or FILE_ID.fullmatch(value):
            return value
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.netloc and not any(c.isspace() for c in value):
            return value
        raise ValueError("must be an https URL or a Telegram file_id")

    @model_validator(mode="after")
    def _check_shape(self) -> Notification:
        """The rules between fields: who it is for, and what each op needs. (Its message is
        read as `format` says when it is parsed: bot.notification.parsing.)"""
        if self.photo is not None and self.document is not None:
            raise ValueError("photo and document: give one of them, not both")
        if self.ttl is not None and self.expires_at is not None:
            raise ValueError("ttl and expires_at: give one of them, not both")
        fan_out = self.user_ids is not None or self.audience is not None
        if self.user_ids is not None and self.audience is not None:
            raise ValueError("user_ids and audience: give one of them, not both")
        if fan_out and self.user_id is not None:
            raise ValueError("user_id and user_ids/audience: give one of them, not both")
        self._check_template()
        self._check_feedback(fan_out)
        if self.mute_button and self.category is None and self.template is None:
            raise ValueError("mute_button: needs a category (the one it mutes)")
        if self.op in ("ack", "remind"):
            if self.id is None or self.user_id is None:
                raise ValueError(f"op {self.op} needs the id and the user_id of the notification")
        elif self.op == "digest":
            if self.user_id is None or self.category is None:
                raise ValueError("op digest needs the user_id and the category to send now")
        elif self.op != "send":
            self._check_change(fan_out)
        elif not fan_out and self.user_id is None:
            raise ValueError("user_id: field required")
        elif self.message is None and self.template is None:
            raise ValueError("message: field required (or a template)")
        return self

    def _check_template(self) -> None:
        if self.template is None:
            if self.data is not None:
                raise ValueError("data: only with a template")
            return
        if self.message is not None:
            raise ValueError("message and template: give one of them, not both")
        given = sorted({"format", "buttons"} & self.model_fields_set)
        if given:
            raise ValueError(f"{' and '.join(given)}: a template brings its own; leave it out")

    def _check_feedback(self, fan_out: bool) -> None:
        """`reply` and `remind`: what they need, and what they cannot go with."""
        names = [
            name
            for name, wanted in (("reply", self.wants_reply), ("remind", self.remind is not None))
            if wanted
        ]
        if not names:
            return
        if self.op != "send":
            raise ValueError(f"{names[0]}: only on a notification to send")
        if fan_out:
            raise ValueError(f"{names[0]}: not on a fan-out (user_ids or audience) for now")
        if self.id is None:
            raise ValueError(f"{names[0]}: needs an id (what the answer is reported with)")
        if self.wants_reply and (self.buttons or self.mute_button):
            what = "buttons" if self.buttons else "mute_button"
            raise ValueError(
                f"reply and {what}: Telegram cannot show a reply field and buttons on one message"
            )

    @property
    def wants_reply(self) -> bool:
        """Whether it asks for an answer in words (ForceReply)."""
        return self.reply is not None and self.reply is not False

    def _check_change(self, fan_out: bool) -> None:
        """An edit, delete or cancel of the notification with its id."""
        if self.id is None:
            raise ValueError(f"id: required with op {self.op} (the notification it acts on)")
        if fan_out:
            raise ValueError(f"op {self.op} takes an id, not user_ids or audience")
        if self.op in ("edit", "delete") and self.user_id is None:
            raise ValueError(f"user_id: required with op {self.op}")
        if self.op == "edit":
            if (
                self.message is None
                and self.template is None
                and "buttons" not in self.model_fields_set
            ):
                raise ValueError("op edit needs a message or buttons to change")
            if self.media is not None:
                raise ValueError("op edit cannot change a photo or document")

    @property
    def fan_out(self) -> bool:
        """Whether it goes to many users (user_ids or audience) rather than one."""
        return self.user_ids is not None or self.audience is not None

    @property
    def rank(self) -> int:
        """Its place in the queues: 0 (high) goes first, 2 (bulk) last."""
        default = "bulk" if self.fan_out else "normal"
        return PRIORITY_RANK[self.priority or default]

    def expires(self, published_at: float) -> float | None:
        """The moment after which it is not sent (Unix seconds), if it has one."""
        if self.expires_at is not None:
            return self.expires_at
        return None if self.ttl is None else published_at + self.ttl

    @property
    def media(self) -> tuple[Literal["photo", "document"], str] | None:
        if self.photo is not None:
            return "photo", self.photo
        if self.document is not None:
            return "document", self.document
        return None

    @property
    def actions(self) -> list[str]:
        """The actions of its buttons, in order (rows left to right, top to bottom)."""
        rows = self.buttons or []
        return [button.action for row in rows for button in row if button.action is not None]


def moment(value: object) -> float:
    """Unix seconds from Unix seconds or an ISO 8601 string with a time zone; ValueError else."""
    if isinstance(value, bool):
        raise ValueError("expected ISO 8601 with a time zone, or Unix seconds")  # noqa: TRY004
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, str):
        try:
            stamp = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 time: {value[:40]!r}") from None
    else:
        raise ValueError("expected ISO 8601 with a time zone, or Unix seconds")  # noqa: TRY004
    if stamp.tzinfo is None:
        raise ValueError("needs a time zone, e.g. 2026-12-01T09:00:00+01:00 or ...Z")
    return stamp.timestamp()


def _unicode(value: str) -> str:
    """`value` if it can be sent as UTF-8: JSON's "\ud800" escapes decode to lone surrogates,
    which no HTTP request (nor Redis key) can carry."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"contains a lone surrogate at character {exc.start}") from None
    return value
