"""A notification as the Bot API calls that show it: sendMessage for text (cut into parts past
4,096 UTF-16 units), sendPhoto/sendDocument for media with the message as caption, the flags on
every call and the buttons on the last one; and those calls as one chat gets them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.formatting.entities import Formatted
from bot.formatting.split import MAX_CAPTION_UTF16, MAX_UTF16, split_formatted
from bot.notification.parsing import Parsed
from bot.notification.schema import Notification
from bot.preferences import MUTE_PREFIX, Category
from bot.store.actions import callback_data
from bot.store.chats import LinkedChat
from bot.store.memory import Memory

MEDIA_METHODS = {"photo": "sendPhoto", "document": "sendDocument"}
NO_PREVIEW = {"is_disabled": True}


@dataclass(frozen=True, slots=True)
class Call:
    """One Bot API call for a chat; the chat_id is added when it is sent."""

    method: str
    params: dict[str, Any]


def compose(
    parsed: Parsed, action_key: str | None = None, mute: Category | None = None
) -> list[Call]:
    """The calls that show the parsed notification, in order. `action_key` is the key its
    action buttons report taps under (see bot.store.actions); needed only when it has any.
    `mute`: a last row with a button that mutes that category (bot.chat.preferences answers
    it)."""
    notification, formatted = parsed.notification, parsed.formatted
    flags = _flags(notification)
    calls: list[Call] = []
    media = notification.media
    if media is not None:
        kind, reference = media
        call = {kind: reference, **flags}
        if _fits(formatted, MAX_CAPTION_UTF16):
            call["caption"] = formatted.text
            if formatted.entities:
                call["caption_entities"] = formatted.entities_json()
            formatted = Formatted("")
        calls.append(Call(MEDIA_METHODS[kind], call))
    if formatted.text:
        if not notification.preview:
            flags["link_preview_options"] = NO_PREVIEW
        parts = [formatted] if _fits(formatted, MAX_UTF16) else split_formatted(formatted)
        for part in parts:
            params = {"text": part.text, **flags}
            if part.entities:
                params["entities"] = part.entities_json()
            calls.append(Call("sendMessage", params))
    if notification.buttons or mute is not None:
        keyboard = _keyboard(notification, action_key)
        if mute is not None:
            keyboard["inline_keyboard"].append([mute_button(mute)])
        calls[-1].params["reply_markup"] = keyboard
    elif notification.wants_reply:  # the schema lets no buttons come with it
        calls[-1].params["reply_markup"] = force_reply(notification)
    return calls


def force_reply(notification: Notification) -> dict[str, Any]:
    """The reply field that opens under the notification (ForceReply)."""
    markup: dict[str, Any] = {"force_reply": True}
    reply = notification.reply
    if not isinstance(reply, bool) and reply is not None and reply.placeholder:
        markup["input_field_placeholder"] = reply.placeholder
    return markup


def as_reply(calls: list[Call], message_id: int) -> list[Call]:
    """The calls with the first one a reply to `message_id` (a reminder, under the first); sent
    all the same if that message was deleted in the chat meanwhile."""
    first = calls[0]
    params = {
        **first.params,
        "reply_parameters": {"message_id": message_id, "allow_sending_without_reply": True},
    }
    return [Call(first.method, params), *calls[1:]]


def mute_button(category: Category) -> dict[str, str]:
    """The button under a notification that mutes its category with one tap. Its label is the
    category's own (the operator's words, in no particular language) after a bell."""
    return {"text": f"🔕 {category.label}", "callback_data": MUTE_PREFIX + category.name}


def _flags(notification: Notification) -> dict[str, Any]:
    flags: dict[str, Any] = {}
    if notification.silent:
        flags["disable_notification"] = True
    if notification.protect:
        flags["protect_content"] = True
    if notification.thread_id is not None:
        flags["message_thread_id"] = notification.thread_id
    return flags


def _fits(formatted: Formatted, limit: int) -> bool:
    # A character is at most 2 UTF-16 units: most texts fit without being measured.
    text = formatted.text
    return len(text) <= limit // 2 or len(text.encode("utf-16-le")) // 2 <= limit


def _keyboard(notification: Notification, action_key: str | None) -> dict[str, Any]:
    rows: list[list[dict[str, str]]] = []
    index = 0
    for row in notification.buttons or []:
        buttons = []
        for button in row:
            if button.url is not None:
                buttons.append({"text": button.text, "url": button.url})
                continue
            if action_key is None:
                raise ValueError("a notification with action buttons needs an action key")
            buttons.append({"text": button.text, "callback_data": callback_data(action_key, index)})
            index += 1
        rows.append(buttons)
    return {"inline_keyboard": rows}


def compose_edit(parsed: Parsed, memory: Memory, action_key: str | None = None) -> list[Call]:
    """The calls that make the messages in `memory` show the parsed notification (op edit), in
    order.

    The text replaces the old one part for part; buttons go on the last part and, as in
    Telegram, buttons left out of an edit are removed. When the new text needs more parts than
    were sent, the extra ones are sent as new messages after them; when it needs fewer, the
    extra old ones are deleted. A caption stays a caption: a text over 1,024 characters
    cannot replace one (ValueError). A photo or document itself is never changed."""
    notification, formatted = parsed.notification, parsed.formatted
    ids, kinds = memory.message_ids, memory.kinds
    keyboard = None
    if notification.buttons:
        keyboard = _keyboard(notification, action_key)
    if notification.message is None:  # only the buttons change
        params: dict[str, Any] = {"message_id": ids[-1]}
        if keyboard is not None:
            params["reply_markup"] = keyboard
        return [Call("editMessageReplyMarkup", params)]
    if kinds and kinds[0] == "caption":
        return [_edit_caption(formatted, ids[0], keyboard)]
    text_ids = [i for i, kind in zip(ids, kinds, strict=True) if kind == "text"]
    parts = [formatted] if _fits(formatted, MAX_UTF16) else split_formatted(formatted)
    calls: list[Call] = []
    for number, part in enumerate(parts):
        params = {"text": part.text}
        if part.entities:
            params["entities"] = part.entities_json()
        if not notification.preview:
            params["link_preview_options"] = NO_PREVIEW
        if number < len(text_ids):
            calls.append(Call("editMessageText", {"message_id": text_ids[number], **params}))
        else:
            calls.append(Call("sendMessage", {**params, **_flags(notification)}))
    if keyboard is not None:
        calls[-1].params["reply_markup"] = keyboard
    calls.extend(Call("deleteMessage", {"message_id": i}) for i in text_ids[len(parts) :])
    return calls


def _edit_caption(formatted: Formatted, message_id: int, keyboard: dict[str, Any] | None) -> Call:
    if not _fits(formatted, MAX_CAPTION_UTF16):
        raise ValueError("the new text is over the 1,024 characters a caption can take")
    params: dict[str, Any] = {"message_id": message_id, "caption": formatted.text}
    if formatted.entities:
        params["caption_entities"] = formatted.entities_json()
    if keyboard is not None:
        params["reply_markup"] = keyboard
    return Call("editMessageCaption", params)


def compose_delete(memory: Memory) -> list[Call]:
    """The calls that delete the messages in `memory` (op delete), last part first."""
    return [Call("deleteMessage", {"message_id": i}) for i in reversed(memory.message_ids)]


def for_chat(calls: list[Call], notification: Notification, chat: LinkedChat) -> list[Call]:
    """The calls as this chat gets them: in its topic, and in a channel without action buttons
    (every subscriber could tap them, each reported as the user's) nor a reply field (nobody
    can answer a channel's post)."""
    calls = _in_topic(calls, notification, chat)
    if chat.kind != "channel" or not (notification.actions or notification.wants_reply):
        return calls
    return [_without_actions(call) for call in calls]


def _without_actions(call: Call) -> Call:
    markup = call.params.get("reply_markup")
    if not isinstance(markup, dict):
        return call
    if "force_reply" in markup:
        return Call(call.method, {k: v for k, v in call.params.items() if k != "reply_markup"})
    rows = [
        [button for button in row if "callback_data" not in button]
        for row in markup["inline_keyboard"]
    ]
    rows = [row for row in rows if row]
    params = {k: v for k, v in call.params.items() if k != "reply_markup"}
    if rows:
        params["reply_markup"] = {"inline_keyboard": rows}
    return Call(call.method, params)


def _in_topic(calls: list[Call], notification: Notification, chat: LinkedChat) -> list[Call]:
    """The calls with the topic of the chat's link. A notification's own thread_id wins, in a
    group only: a private chat or a channel it goes to as well has no such topic."""
    if notification.thread_id is None and chat.thread_id is None:
        return calls  # the common case: no topic anywhere
    thread = None
    if chat.kind == "group":
        thread = notification.thread_id if notification.thread_id is not None else chat.thread_id
    sends = [call for call in calls if call.method.startswith("send")]
    if all(call.params.get("message_thread_id") == thread for call in sends):
        return calls
    changed = []
    for call in calls:
        if not call.method.startswith("send"):
            changed.append(call)
            continue
        params = {k: v for k, v in call.params.items() if k != "message_thread_id"}
        if thread is not None:
            params["message_thread_id"] = thread
        changed.append(Call(call.method, params))
    return changed


def kinds_of(calls: list[Call]) -> tuple[str, ...]:
    """What each message sent by `calls` (compose's) holds, for the id's Memory."""
    kinds = []
    for call in calls:
        if call.method in MEDIA_METHODS.values():
            kinds.append("caption" if "caption" in call.params else "media")
        elif call.method != "deleteMessage":
            kinds.append("text")
    return tuple(kinds)
