"""The Bot API methods the emulator answers besides webhooks, media, buttons and changes to sent
messages: getUpdates (long polling, offsets, 409 on a second poller; `deliver_again`) and
sendMessage with Telegram's checks."""

from __future__ import annotations

import copy
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
    """getUpdates (and deliver_again) and sendMessage."""

    offline: bool

    def deliver_again(self, update: JSONDict, *, same_id: bool = False) -> JSONDict:
        """Telegram delivers `update` (one the emulator made: user_says, tap, ... returned it)
        once more; returns the Update queued.

        By default the same content comes with a NEW update_id, at the end of the queue: what a
        bot sees when one event reaches it twice and its update_id cannot tell (two webhooks or
        instances, a restart that lost its own record), and the only way an update the bot
        already confirmed can reach a poller again: Telegram drops every update below the
        offset the bot sent (python-telegram-bot's last update_id + 1).

        `same_id=True` is Telegram's own repeat: the same update_id again. An update still
        unconfirmed is simply still queued (getUpdates without a higher offset, or a restart,
        gets it again): it is returned as it is. One already confirmed is queued again, in
        update_id order, only with a webhook set (Telegram re-POSTs an update whose answer did
        not reach it, e.g. after the bot's timeout); for a poller it would be gone at its next
        offset, so that is a ValueError instead of a test that passes without a delivery.
        """
        kinds = [key for key in update if key != "update_id"]
        if len(kinds) != 1 or not isinstance(update.get("update_id"), int):
            raise ValueError(f"not an Update (update_id and one kind of content): {update}")
        kind = kinds[0]
        with self._changed:
            state = self._state
            if not same_id:
                return self._queue_update(kind, copy.deepcopy(update[kind]))
            update_id = update["update_id"]
            pending = next((u for u in state.updates if u["update_id"] == update_id), None)
            if pending is not None:
                return pending
            if update_id >= state.next_update_id:
                raise ValueError(f"update {update_id} was never queued: Telegram has none such")
            if not state.webhook:
                raise ValueError(
                    f"update {update_id} is confirmed (offset {state.offset}): getUpdates never "
                    "returns it again; deliver_again(update) gives it a new update_id"
                )
            again = copy.deepcopy(update)
            state.updates.append(again)
            state.updates.sort(key=lambda u: int(u["update_id"]))
            self._changed.notify_all()
            return again

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
                state.offset = max(state.offset, offset)
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
