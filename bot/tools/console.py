"""The emulator's console, for `python -m bot emulator` and `demo --interactive`: write to the
bot as a named user, in a private chat, a group or a channel; see what the bot sends with its
buttons numbered, and its edits and deletions as they happen; press a button with `tap N`."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from bot.testing import FakeTelegram, SentMessage

HELP = """Console commands:
  <text>                  write <text> as the current user, in the current chat
  as <user id> [name]     write as that user, in their private chat (e.g. 'as 42 Ada')
  <user id> <text>        write <text> once as that user, in their private chat
  group [title]           a group with the current user as its creator and the bot as an
                          administrator; what you write goes there (link it with
                          /start@<bot> <token>, from 'python -m bot link --group 42')
  channel [title]         a channel of the current user's, the bot an administrator; what you
                          write is posted there (link it with /link <token>)
  private                 back to the current user's private chat
  tap N                   press button N of the last message with buttons in this chat
  tap <message id> N      press button N of that message
  help                    this list"""

GROUP_IDS = itertools.count(-5001, -1)  # basic groups' ids are small negative numbers
CHANNEL_IDS = itertools.count(-1009000000001, -1)
ANSWER_WAIT = 5.0  # seconds a tap's toast is waited for


@dataclass
class _Where:
    user_id: int
    chat_id: int
    kind: str = "private"  # private, group or channel


class Console:
    """Reads console lines (`handle`) and prints what the bot does in the emulator. Safe to
    call from any thread: the emulator calls back on its server threads."""

    def __init__(
        self,
        telegram: FakeTelegram,
        out: TextIO,
        *,
        user: tuple[int, str] | None = None,
    ) -> None:
        self._telegram = telegram
        self._out = out
        self._print_lock = threading.Lock()
        self._names: dict[int, str] = {}  # chat or user id -> what the console calls it
        self._buttons: dict[int, SentMessage] = {}  # chat id -> last message with buttons
        self._where: _Where | None = None
        if user is not None:
            self.act_as(*user)

    def attach(self) -> None:
        """Print what the bot sends, edits and deletes from now on."""
        self._telegram.on_sent = self._sent
        self._telegram.on_edited = self._edited
        self._telegram.on_deleted = self._deleted

    def detach(self) -> None:
        self._telegram.on_sent = self._telegram.on_edited = None
        self._telegram.on_deleted = None

    def act_as(self, user_id: int, name: str | None = None) -> None:
        self._names[user_id] = name or self._names.get(user_id) or f"user {user_id}"
        self._where = _Where(user_id, user_id)

    def handle(self, line: str) -> int | None:
        """One line typed at the console; the chat written to, if it was a message."""
        words = line.split()
        if not words:
            return None
        command, rest = words[0].lower(), line.strip()[len(words[0]) :].strip()
        handlers: dict[str, Callable[[str], None]] = {
            "help": lambda _rest: self.say(HELP),
            "as": self._as,
            "group": self._group,
            "channel": self._channel,
            "private": self._private,
            "tap": self._tap,
        }
        if command in handlers:
            handlers[command](rest)
            return None
        if command.lstrip("-").isdigit() and rest:
            return self._write(_Where(int(command), int(command)), rest)
        if self._where is None:
            self.say("write as whom? e.g. 'as 42 Ada', or '42 /start'; 'help' lists commands")
            return None
        return self._write(self._where, line.strip())

    def say(self, text: str) -> None:
        with self._print_lock:
            print(text, file=self._out, flush=True)

    # -- commands -----------------------------------------------------------------------

    def _as(self, rest: str) -> None:
        user, _, name = rest.partition(" ")
        if not user.isdigit():
            self.say("as <user id> [name], e.g. 'as 42 Ada'")
            return
        self.act_as(int(user), name.strip() or None)
        self.say(f"you are {self._names[int(user)]}, in your private chat with the bot")

    def _group(self, title: str) -> None:
        where = self._needs_user()
        if where is None:
            return
        chat_id, title = next(GROUP_IDS), title or "Test group"
        self._telegram.add_group(
            chat_id, title=title, creator=where.user_id, bot_status="administrator"
        )
        self._names[chat_id] = title
        self._where = _Where(where.user_id, chat_id, "group")
        self.say(f"group {title!r} ({chat_id}): you and the bot (an administrator) are in it")

    def _channel(self, title: str) -> None:
        where = self._needs_user()
        if where is None:
            return
        chat_id, title = next(CHANNEL_IDS), title or "Test channel"
        self._telegram.add_channel(chat_id, title=title, creator=where.user_id)
        self._names[chat_id] = title
        self._where = _Where(where.user_id, chat_id, "channel")
        self.say(f"channel {title!r} ({chat_id}): what you write is posted there")

    def _private(self, _rest: str) -> None:
        where = self._needs_user()
        if where is not None:
            self._where = _Where(where.user_id, where.user_id)
            self.say(f"back in {self._names[where.user_id]}'s private chat")

    def _tap(self, rest: str) -> None:
        where = self._needs_user()
        if where is None:
            return
        numbers = rest.split()
        if not numbers or not all(n.isdigit() for n in numbers) or len(numbers) > 2:
            self.say(
                "tap N (a button of the last message with buttons here), or tap <message id> N"
            )
            return
        message = self._message_for(where.chat_id, int(numbers[0]) if len(numbers) == 2 else None)
        if message is None:
            self.say("no message with buttons here to tap")
            return
        buttons = [button for row in message.buttons for button in row]
        number = int(numbers[-1])
        if not 1 <= number <= len(buttons):
            self.say(f"message {message.message_id} has buttons 1 to {len(buttons)}")
            return
        button = buttons[number - 1]
        if "callback_data" not in button:
            self.say(f"[{button['text']}] opens {button.get('url', 'a link')}: nothing to tap")
            return
        query = self._telegram.tap(
            where.chat_id, message.message_id, button=button["text"], user_id=where.user_id
        )
        self.say(f"{self._names[where.user_id]} taps [{button['text']}]")
        threading.Thread(target=self._toast, args=(query,), daemon=True).start()

    # -- what the bot does --------------------------------------------------------------

    def _sent(self, message: SentMessage) -> None:
        self._remember(message)
        self.say(f"bot -> {self._name(message.chat_id)}: {message.text}{_keyboard(message)}")

    def _edited(self, message: SentMessage) -> None:
        self._remember(message)
        self.say(
            f"bot edited message {message.message_id} in {self._name(message.chat_id)}: "
            f"{message.text}{_keyboard(message)}"
        )

    def _deleted(self, chat_id: int, message_id: int) -> None:
        shown = self._buttons.get(chat_id)
        if shown is not None and shown.message_id == message_id:
            del self._buttons[chat_id]
        self.say(f"bot deleted message {message_id} in {self._name(chat_id)}")

    def _toast(self, query: str) -> None:
        try:
            answer = self._telegram.wait_for_answer(query, timeout=ANSWER_WAIT)
        except TimeoutError:
            self.say("(no answer to the tap yet: is the bot running?)")
            return
        self.say(f"(a toast) {answer.get('text') or '(none)'}")

    # -- helpers ------------------------------------------------------------------------

    def _write(self, where: _Where, text: str) -> int:
        name = self._names.setdefault(where.user_id, f"user {where.user_id}")
        if where.kind == "channel":
            self._telegram.channel_post(where.chat_id, text, author=name)
        else:
            chat = None if where.kind == "private" else where.chat_id
            self._telegram.user_says(where.user_id, text, first_name=name, chat=chat)
        return where.chat_id

    def _needs_user(self) -> _Where | None:
        if self._where is None:
            self.say("first say who you are: 'as 42 Ada'")
        return self._where

    def _message_for(self, chat_id: int, message_id: int | None) -> SentMessage | None:
        if message_id is None:
            return self._buttons.get(chat_id)
        found = [
            m for m in self._telegram.sent if (m.chat_id, m.message_id) == (chat_id, message_id)
        ]
        return found[0] if found and found[0].buttons else None

    def _remember(self, message: SentMessage) -> None:
        if message.buttons:
            self._buttons[message.chat_id] = message
        elif (
            shown := self._buttons.get(message.chat_id)
        ) and shown.message_id == message.message_id:
            del self._buttons[message.chat_id]  # edited without its buttons

    def _name(self, chat_id: int) -> str:
        return self._names.get(chat_id, str(chat_id))


def _keyboard(message: SentMessage) -> str:
    """The message's buttons, numbered as `tap` takes them."""
    buttons = [button for row in message.buttons for button in row]
    if not buttons:
        return ""
    shown = [
        f"[{number}] {button['text']}" + (f" -> {button['url']}" if "url" in button else "")
        for number, button in enumerate(buttons, 1)
    ]
    return "\n    buttons: " + "  ".join(shown)
