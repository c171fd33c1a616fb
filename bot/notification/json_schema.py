"""The notification's JSON Schema (2020-12) as other languages read it: one rendering for
`python -m bot schema` and docs/notification.schema.json."""

from __future__ import annotations

import json
from typing import Any

from bot.notification.schema import Notification

__all__ = ["DIALECT", "json_schema", "render"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a notification: the model's own (pydantic writes 2020-12), with the
    `$schema` keyword that tells a validator which dialect it is.

    It checks each field's type and limits; the rules between fields (a `user_id` or a
    fan-out, a `message` or a `template`, what each `op` needs) are the bot's, and a payload
    that breaks one is dead-lettered with the reason.
    """
    return {"$schema": DIALECT, **Notification.model_json_schema()}


def render() -> str:
    """`json_schema()` as the text of docs/notification.schema.json (ends with a newline)."""
    return json.dumps(json_schema(), indent=2) + "\n"
