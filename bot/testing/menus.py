"""The bot's command menus: setMyCommands, getMyCommands and deleteMyCommands keep one list per
scope and language, and `menu_seen` picks the list a user's client shows, as Telegram does."""

from __future__ import annotations

import json
import re
from http import HTTPStatus

from bot.testing.model import ApiError, Emulated, JSONDict

# "A two-letter ISO 639-1 language code", or empty: the list for users of any language that
# has none of its own. Telegram refuses a regional tag such as "zh-hans" or "de-AT".
LANGUAGE_CODE = re.compile(r"[a-z]{2}")
INVALID_LANGUAGE = "Bad Request: invalid language code specified"


class MenuMethods(Emulated):
    """set/get/deleteMyCommands, and what a user sees (`menu_seen`)."""

    def _set_my_commands(self, params: JSONDict) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(HTTPStatus.BAD_REQUEST, 'Bad Request: parameter "commands" is required')
        key = menu_key(params)
        scope = params.get("scope")
        with self._changed:
            scoped_chat = scope.get("chat_id") if isinstance(scope, dict) else None
            if scoped_chat is not None and int(scoped_chat) not in self._state.chats:
                raise ApiError(HTTPStatus.BAD_REQUEST, "Bad Request: chat not found")
            self._state.commands[key] = commands
        return True

    def _get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        key = menu_key(params)
        with self._changed:
            # Exactly that scope and language: no falling back (an empty list when none is set).
            return self._state.commands.get(key, [])

    def _delete_my_commands(self, params: JSONDict) -> bool:
        key = menu_key(params)
        with self._changed:
            self._state.commands.pop(key, None)
        return True

    def commands_for(
        self, scope: JSONDict | None = None, language_code: str = ""
    ) -> list[JSONDict]:
        """The command list the bot set for `scope` (the default scope when None) and
        `language_code` ("" for the list without a language), as getMyCommands answers."""
        params: JSONDict = {"language_code": language_code}
        if scope:
            params["scope"] = scope
        return self._get_my_commands(params)

    def menu_seen(self, chat_id: int, language_code: str | None = None) -> list[JSONDict]:
        """The menu a user whose Telegram is in `language_code` (an IETF tag, as in
        `from.language_code`) sees in their private chat with the bot: the first list set of
        chat + language, chat, all private chats + language, all private chats, default +
        language, default (Telegram's "Determining list of commands")."""
        language = (language_code or "").split("-", 1)[0].lower()
        chat: JSONDict = {"type": "chat", "chat_id": chat_id}
        scopes: list[JSONDict] = [chat, {"type": "all_private_chats"}, {"type": "default"}]
        with self._changed:
            for scope in scopes:
                for code in ([language] if language else []) + [""]:
                    found = self._state.commands.get(_key(scope, code))
                    if found is not None:
                        return found
        return []


def menu_key(params: JSONDict) -> str:
    """Where a menu is kept: its scope (the default one when none is given) and language."""
    language = params.get("language_code") or ""
    if not isinstance(language, str) or (language and not LANGUAGE_CODE.fullmatch(language)):
        raise ApiError(HTTPStatus.BAD_REQUEST, INVALID_LANGUAGE)
    scope = params.get("scope") or {"type": "default"}
    return _key(scope, language)


def _key(scope: JSONDict, language: str) -> str:
    return json.dumps([scope, language], sort_keys=True)
