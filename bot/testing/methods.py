"""The Bot API methods the emulator answers besides webhooks, media, buttons and changes to sent
messages: getUpdates (long polling, offsets, 409 on a second poller) and sendMessage with
Telegram's checks."""

from __future__ import annotations

import time
from http import HTTPStatus

from bot.testing.entities import checked_entities
from bot.testing.formatting import link_preview_options, visible_text
from bot.testing.model import (
    ApiError,
    DropConnection,
    JSONDict,
    is_listed,
    remember_allowed,
)
from bot.testing.sending import Outbox

MAX_POLL_SECONDS = 50  # Telegram caps long polls too


class ChatMethods(Outbox):
    """getUpdates and sendMessage."""

    offline: bool

    def _get_updates(self, params: JSONDict) -> list[JSONDict]:
        offset = int(params.get("offset") or 0)
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = min(float(params.get("timeout") or 0), MAX_POLL_SECONDS)
        allowed = params.get("allowed_updates")
        deadline = time.monotonic() + timeout
        with self._changed:
            state = self._state
            state.poll_generation += 1
            generation = state.poll_generation
            remember_allowed(state, allowed)
            self._changed.notify_all()  # wakes an older poll, which then answers 409
            if offset:
                # An update is confirmed by asking for a higher offset.
                state.updates = [u for u in state.updates if u["update_id"] >= offset]
            while True:
                if state.webhook:
                    self.conflicts += 1
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        "Conflict: can't use getUpdates method while webhook is active; "
                        "use deleteWebhook to delete the webhook first",
                    )
                if generation != state.poll_generation:
                    self.conflicts += 1
                    raise ApiError(
                        HTTPStatus.CONFLICT,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                ready = [u for u in state.updates if is_listed(u, allowed)]
                remaining = deadline - time.monotonic()
                if self.offline:
                    raise DropConnection
                if ready or remaining <= 0 or self._closing:
                    return ready[:limit]
                self._changed.wait(remaining)

    def _send_message(self, params: JSONDict) -> JSONDict:
        text = visible_text(params)
        entities = checked_entities(text, params, "entities")
        preview = link_preview_options(params)
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        if preview:
            content["link_preview_options"] = preview
        return self._post(
            "sendMessage", params, text=text, entities=entities, content=lambda: content
        )
