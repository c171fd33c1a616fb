"""Raw Bot API calls with JSON bodies, as the bot's own sender makes them, for the emulator's
tests: the status and body exactly as the emulator answered."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from bot.testing import FakeTelegram, JSONDict


class Api:
    """POSTs `application/json` bodies to the emulator."""

    def __init__(self, telegram: FakeTelegram) -> None:
        self._base = f"{telegram.base_url}{telegram.token}/"

    def post(self, method: str, **params: object) -> tuple[int, JSONDict]:
        """The HTTP status and the decoded body of one call."""
        request = urllib.request.Request(  # noqa: S310 - the emulator on loopback
            self._base + method,
            data=json.dumps(params).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return exc.code, json.loads(exc.read())

    def result(self, method: str, **params: object) -> Any:
        """The `result` of a call that must succeed."""
        status, body = self.post(method, **params)
        assert status == 200, body
        return body["result"]

    def refusal(self, method: str, **params: object) -> str:
        """The description of a call that must be refused with 400."""
        status, body = self.post(method, **params)
        assert (status, body["ok"], body["error_code"]) == (400, False, 400), body
        return str(body["description"])
