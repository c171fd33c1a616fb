"""Markdown as web apps write it (CommonMark plus ~~strikethrough~~) as text plus entities."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import SimpleNamespace

from markdown_it import MarkdownIt, helpers
from markdown_it.common.utils import unescapeAll
from markdown_it.rules_block import StateBlock
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

from bot.formatting.entities import (
    BLOCKQUOTE,
    BOLD,
    CODE,
    ITALIC,
    PRE,
    STRIKETHROUGH,
    TEXT_LINK,
    Entity,
    Formatted,
    check_link,
    strip,
    utf16_len,
)

BULLET = "• "
THEMATIC_BREAK = "———"
# Each open list item indents the lines inside it, so a nested list reads as nested.
INDENT = "  "
TOP_LEVEL_GAP = "\n\n"
IN_LIST_GAP = "\n"


class _Parser(MarkdownIt):
    # markdown-it quietly leaves a javascript: or file: link as literal text; letting every link
    # through makes check_link the one judge, and a bad link an error the sender sees.
    def validateLink(self, url: str) -> bool:  # noqa: N802 (markdown-it's name)
        return True


_PARSER = _Parser("commonmark", {"html": False}).enable("strikethrough")

# Characters that searching for the ends of link texts may read, per character of source. Each
# `[` searches ahead for its `]`, and 2,000 of `![` with none read the rest of the text 2,000
# times (61 ms for 4,000 characters; 8 ms with the budget). Real link texts read about their
# own length once; past the budget a `[` is plain text, as it is when nothing closes it.
LABEL_BUDGET_PER_CHAR = 32
LABEL_BUDGET = "label_budget"  # its key in the parse's env


def _budgeted_label(state: StateInline, start: int, disableNested: bool = False) -> int:  # noqa: N803 (markdown-it's signature)
    left: int = state.env[LABEL_BUDGET]
    if left <= 0:
        return -1
    end: int = helpers.parseLinkLabel(state, start, disableNested)
    state.env[LABEL_BUDGET] = left - ((end if end >= 0 else state.posMax) - start)
    return end


# Our parser's own helpers (markdown-it's module is shared with any other parser in the process).
_PARSER.helpers = SimpleNamespace(  # type: ignore[assignment]
    **{**vars(helpers), "parseLinkLabel": _budgeted_label}
)


TOO_DEEP = "too_deep"  # its key in the parse's env: the line where the nesting limit was hit
_tokenize_blocks = _PARSER.block.tokenize


def _tokenize_checked(state: StateBlock, start_line: int, end_line: int) -> None:
    # markdown-it skips whatever lies deeper than maxNesting without a word (10 levels of
    # lists kept 118 characters of 32 K): note where, so that the sender hears of it.
    if state.level >= _PARSER.options.maxNesting and TOO_DEEP not in state.env:
        line = state.skipEmptyLines(start_line)
        # Less indented than the block: the nested call ends there, nothing is skipped.
        if line < end_line and state.sCount[line] >= state.blkIndent:
            state.env[TOO_DEEP] = line + 1
    _tokenize_blocks(state, start_line, end_line)


_PARSER.block.tokenize = _tokenize_checked  # type: ignore[method-assign, assignment]


def markdown_to_formatted(source: str) -> Formatted:
    """Plain text and Telegram entities for `source`. Raises ValueError naming a link that
    check_link refuses and its line; anything else converts, perhaps to empty text."""
    writer = _Writer()
    env: dict[str, int] = {LABEL_BUDGET: LABEL_BUDGET_PER_CHAR * len(source) + 10_000}
    tokens = _PARSER.parse(source, env)
    if TOO_DEEP in env:
        # Each list level opens two (the list and its item), a quote one.
        nesting = _PARSER.options.maxNesting
        raise ValueError(
            f"lists or quotes nested too deeply (line {env[TOO_DEEP]}): at most "
            f"{nesting // 2 - 1} levels of lists or {nesting - 1} of quotes"
        )
    writer.walk(tokens)
    entities = [entity for entity in writer.entities if entity is not None]
    return strip("".join(writer.pieces), entities)


@dataclass(slots=True)
class _Open:
    """An entity waiting for its close token; `start` stays None until text lands in it, so an
    entity never begins before the gap that separates its block from the one above."""

    type: str
    url: str | None = None
    language: str | None = None
    start: int | None = None
    slot: int = 0


class _Writer:
    """Walks the token stream once, appending text pieces and counting UTF-16 units as it goes."""

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.length = 0  # UTF-16 units in pieces
        # Held in the order entities open, so the sort by offset keeps outer before inner when
        # two cover the same text; None until the entity closes, or if it ends up empty.
        self.entities: list[Entity | None] = []
        self.open: list[_Open | None] = []  # None: a token pair that makes no entity
        self.unstarted = False
        self.gap = ""  # owed before the next text; dropped if no text follows
        self.after_marker = False
        self.items = 0
        self.numbers: list[int | None] = []  # next number per open list, None for bullets
        self.quotes = 0
        self.line = 1

    def walk(self, tokens: Sequence[Token]) -> None:
        for token in tokens:
            if token.map is not None:
                self.line = token.map[0] + 1
            handler = _HANDLERS.get(token.type)
            if handler is not None:
                handler(self, token)

    def put(self, piece: str) -> None:
        self.pieces.append(piece)
        self.length += utf16_len(piece)

    def write(self, text: str) -> None:
        if not text:
            return
        if self.gap and self.pieces:
            self.put(self.gap + INDENT * self.items)
        self.gap = ""
        self.after_marker = False
        if self.unstarted:
            for entry in self.open:
                if entry is not None and entry.start is None:
                    entry.start = self.length
            self.unstarted = False
        self.put(text)

    def line_break(self) -> None:
        # A break is a newline in the source, so counting them places a bad link on its own
        # line; a code span or link title that wraps is not counted and makes the line low.
        self.write("\n" + INDENT * self.items)
        self.line += 1

    def block(self) -> None:
        # The first block in a list item shares the marker's line.
        if not self.after_marker:
            gap = IN_LIST_GAP if self.items else TOP_LEVEL_GAP
            self.gap = max(self.gap, gap, key=len)

    def start(self, entry: _Open | None) -> None:
        self.open.append(entry)
        if entry is not None:
            entry.slot = len(self.entities)
            self.entities.append(None)
            self.unstarted = True

    def end(self) -> None:
        entry = self.open.pop()
        if entry is not None and entry.start is not None and self.length > entry.start:
            length = self.length - entry.start
            entity = Entity(entry.type, entry.start, length, entry.url, entry.language)
            self.entities[entry.slot] = entity

    def start_link(self, url: str) -> None:
        url = self.checked(url)
        # Telegram cannot nest links; the only link CommonMark nests is an image in a link.
        inside = any(entry is not None and entry.type == TEXT_LINK for entry in self.open)
        self.start(None if inside else _Open(TEXT_LINK, url))

    def checked(self, url: str) -> str:
        try:
            return check_link(url)
        except ValueError as error:
            raise ValueError(f"{error} (line {self.line})") from None

    def start_item(self) -> None:
        self.after_marker = False
        self.gap = max(self.gap, IN_LIST_GAP, key=len)
        number = self.numbers[-1]
        marker = BULLET if number is None else f"{number}. "
        if number is not None:
            self.numbers[-1] = number + 1
        self.write(marker)
        self.items += 1
        self.after_marker = True

    def end_item(self) -> None:
        self.items -= 1
        self.after_marker = False

    def code_block(self, content: str, language: str | None) -> None:
        self.block()
        self.start(_Open(PRE, language=language))
        self.write(content.removesuffix("\n"))
        self.end()


def _fence(writer: _Writer, token: Token) -> None:
    info = unescapeAll(token.info).split()
    writer.code_block(token.content, info[0] if info else None)


def _quote(writer: _Writer, _token: Token) -> None:
    writer.block()
    # Telegram refuses a blockquote inside a blockquote: the outermost one covers them all.
    writer.start(_Open(BLOCKQUOTE) if writer.quotes == 0 else None)
    writer.quotes += 1


def _end_quote(writer: _Writer, _token: Token) -> None:
    writer.quotes -= 1
    writer.end()


def _list(writer: _Writer, token: Token) -> None:
    writer.block()
    start = token.attrGet("start")
    writer.numbers.append(None if token.type == "bullet_list_open" else int(start or 1))


def _end_list(writer: _Writer, _token: Token) -> None:
    writer.numbers.pop()


def _link(writer: _Writer, token: Token) -> None:
    url = str(token.attrGet("href") or "")
    # An e-mail autolink becomes mailto:, which no button or link may use; Telegram recognises
    # the address in plain text anyway.
    is_email = token.markup == "autolink" and url.lower().startswith("mailto:")
    if is_email:
        writer.start(None)
    else:
        writer.start_link(url)


def _image(writer: _Writer, token: Token) -> None:
    writer.start_link(str(token.attrGet("src") or ""))
    writer.walk(token.children or [])
    writer.end()


def _code_inline(writer: _Writer, token: Token) -> None:
    writer.start(_Open(CODE))
    writer.write(token.content)
    writer.end()


def _styled(entity_type: str) -> Callable[[_Writer, Token], None]:
    return lambda writer, _token: writer.start(_Open(entity_type))


def _ends(writer: _Writer, _token: Token) -> None:
    writer.end()


def _heading(writer: _Writer, _token: Token) -> None:
    writer.block()
    writer.start(_Open(BOLD))


def _thematic_break(writer: _Writer, _token: Token) -> None:
    writer.block()
    writer.write(THEMATIC_BREAK)


_HANDLERS: dict[str, Callable[[_Writer, Token], None]] = {
    "paragraph_open": lambda writer, _token: writer.block(),
    "heading_open": _heading,
    "heading_close": _ends,
    "blockquote_open": _quote,
    "blockquote_close": _end_quote,
    "bullet_list_open": _list,
    "ordered_list_open": _list,
    "bullet_list_close": _end_list,
    "ordered_list_close": _end_list,
    "list_item_open": lambda writer, _token: writer.start_item(),
    "list_item_close": lambda writer, _token: writer.end_item(),
    "fence": _fence,
    "code_block": lambda writer, token: writer.code_block(token.content, None),
    "hr": _thematic_break,
    "inline": lambda writer, token: writer.walk(token.children or []),
    "text": lambda writer, token: writer.write(token.content),
    "softbreak": lambda writer, _token: writer.line_break(),
    "hardbreak": lambda writer, _token: writer.line_break(),
    "strong_open": _styled(BOLD),
    "em_open": _styled(ITALIC),
    "s_open": _styled(STRIKETHROUGH),
    "strong_close": _ends,
    "em_close": _ends,
    "s_close": _ends,
    "code_inline": _code_inline,
    "link_open": _link,
    "link_close": _ends,
    "image": _image,
}
