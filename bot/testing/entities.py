"""MessageEntity lists (`entities`, `caption_entities`) checked the way the Bot API server and
TDLib check them, with offsets and lengths in UTF-16 code units of the text as sent.

The descriptions are the real ones: the Bot API server's "can't parse MessageEntity: ..."
(telegram-bot-api Client.cpp, get_text_entity) and TDLib's offset checks (MessageEntity.cpp,
fix_formatted_text), with the first letter lowered as the Bot API server does."""

from __future__ import annotations

from http import HTTPStatus
from typing import NoReturn

from bot.testing.links import link_problem
from bot.testing.model import ApiError, JSONDict

# Kept as sent. mention ... bank_card_number Telegram accepts and then finds in the text
# itself; this model keeps them as sent instead of re-detecting them.
ENTITY_TYPES = frozenset(
    {
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
        "blockquote",
        "expandable_blockquote",
        "date_time",
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bank_card_number",
    }
)
MAX_BOUND = 1_000_000  # TDLib refuses offsets and lengths above this outright


def checked_entities(text: str, params: JSONDict, key: str) -> list[JSONDict]:
    """The entities of `params[key]` Telegram accepts for `text` (as sent, without empty ones),
    or ApiError 400.

    With a `parse_mode` the Bot API server parses the text and never looks at the entities
    (Client::get_formatted_text): the parse mode wins, whatever the docs' "instead of" suggests.
    A value that is not a JSON array is ignored the same way (get_input_entities).
    """
    mode = str(params.get("parse_mode") or "").lower()
    entities = params.get(key)
    if (mode and mode != "none") or not isinstance(entities, list):
        return []
    checked = [_entity(value) for value in entities]
    # TDLib checks every offset and length before it looks at the text.
    for entity in checked:
        offset, length = entity["offset"], entity["length"]
        if not 0 <= offset <= MAX_BOUND:
            _refuse(f"receive an entity with incorrect offset {offset}")
        if not 0 <= length <= MAX_BOUND:
            _refuse(f"receive an entity with incorrect length {length}")
    kept = [entity for entity in checked if entity["length"] > 0]  # TDLib drops empty ones
    layout = _Layout(text)
    for entity in sorted(kept, key=lambda e: (e["offset"], -e["length"])):
        _check_bounds(entity["offset"], entity["length"], layout)
    return kept


def _entity(value: object) -> JSONDict:
    if not isinstance(value, dict):
        _refuse("can't parse MessageEntity: expected an Object")
    entity: JSONDict = dict(value)
    for field in ("offset", "length"):
        entity[field] = _int_field(entity, field)
    kind = entity.get("type")
    if kind is None:
        _refuse("can't parse MessageEntity: Can't find field \"type\"")
    if not isinstance(kind, str):
        _refuse('can\'t parse MessageEntity: Field "type" must be of type String')
    if not kind:
        _refuse("can't parse MessageEntity: Type is not specified")
    if kind not in ENTITY_TYPES:
        _refuse("can't parse MessageEntity: Unsupported type specified")
    _check_type_fields(kind, entity)
    return entity


def _check_type_fields(kind: str, entity: JSONDict) -> None:
    """The fields some types need (get_text_entity_type)."""
    if kind == "pre" and not isinstance(entity.get("language", ""), str):
        _refuse('can\'t parse MessageEntity: Field "language" must be of type String')
    if kind == "text_link":
        url = _string_field(entity, "url")
        problem = link_problem(url)
        if problem is not None:
            _refuse(f"entity URL '{url}' is invalid: {problem}")
    if kind == "text_mention":
        user = entity.get("user")
        if not isinstance(user, dict):
            _refuse("can't parse MessageEntity: Can't find field \"user\"")
        _int_field(user, "id")
    if kind == "custom_emoji":
        _int_field(entity, "custom_emoji_id")
    if kind == "date_time":
        _int_field(entity, "unix_time")


def _int_field(entity: JSONDict, field: str) -> int:
    """TDLib's get_required_int_field: a JSON number or a string of digits."""
    value = entity.get(field)
    if value is None:
        _refuse(f"can't parse MessageEntity: Can't find field \"{field}\"")
    if isinstance(value, bool) or not isinstance(value, int | str):
        _refuse(f'can\'t parse MessageEntity: Field "{field}" must be a Number')
    try:
        return int(value)
    except ValueError:
        _refuse(f'can\'t parse MessageEntity: Field "{field}" must be a valid Number')


def _string_field(entity: JSONDict, field: str) -> str:
    value = entity.get(field)
    if value is None:
        _refuse(f"can't parse MessageEntity: Can't find field \"{field}\"")
    if not isinstance(value, str):
        _refuse(f'can\'t parse MessageEntity: Field "{field}" must be of type String')
    return value


class _Layout:
    """Where the characters of a text start, in UTF-16 units and in UTF-8 bytes: worked out
    once per text (a long text with many entities must not be walked once per entity), and
    not at all for ASCII, where both are the character index."""

    def __init__(self, text: str) -> None:
        self.ascii = text.isascii()
        self.units = len(text) if self.ascii else len(text.encode("utf-16-le")) // 2
        self._bytes: dict[int, int] = {}
        if not self.ascii:
            units = position = 0
            for char in text:
                self._bytes[units] = position
                units += 2 if ord(char) > 0xFFFF else 1
                position += len(char.encode())
            self._bytes[units] = position

    def starts_character(self, offset: int) -> bool:
        return self.ascii or offset in self._bytes

    def byte_offset(self, units: int) -> int:
        """The UTF-8 byte offset of the character that starts at UTF-16 offset `units`."""
        return units if self.ascii else self._bytes[units]


def _check_bounds(offset: int, length: int, layout: _Layout) -> None:
    """TDLib's clean_input_string_with_entities: an entity must begin and end on a character
    boundary of the text, inside it; inside a surrogate pair is "in a middle of a UTF-16 symbol",
    reported at the UTF-8 byte offset of the next character."""
    end = offset + length
    if offset > layout.units:
        _refuse(f"entity begins after the end of the text at UTF-16 offset {offset}")
    if end > layout.units:
        _refuse(
            f"entity beginning at UTF-16 offset {offset} ends after the end of the text at "
            f"UTF-16 offset {end}"
        )
    if not layout.starts_character(offset):
        _refuse(
            "entity begins in a middle of a UTF-16 symbol at byte offset "
            f"{layout.byte_offset(offset + 1)}"
        )
    if not layout.starts_character(end):
        _refuse(
            f"entity beginning at UTF-16 offset {offset} ends in a middle of a UTF-16 symbol at "
            f"byte offset {layout.byte_offset(end + 1)}"
        )


def _refuse(description: str) -> NoReturn:
    raise ApiError(HTTPStatus.BAD_REQUEST, f"Bad Request: {description}")
