"""A digest's text: one line per notification collected, under a header, in one message."""

from __future__ import annotations

from bot.formatting.split import MAX_UTF16
from bot.notification.parsing import Parsed
from bot.store.digests import DIGEST_MAX_LINES

LINE_CHARS = 200  # a line shows the start of its notification's first line
MORE = "… +{count}"
NOT_KEPT = "({count} more not kept: a digest keeps {most} lines)"


def digest_line(parsed: Parsed) -> str:
    """The line a notification adds to a digest: the first line of its text as the chat would
    show it (formatting dropped), shortened."""
    text = parsed.formatted.text.strip()
    first = text.splitlines()[0] if text else ""
    return first if len(first) <= LINE_CHARS else first[: LINE_CHARS - 1].rstrip() + "…"


def digest_text(label: str, lines: list[str], dropped: int = 0) -> tuple[str, int]:
    """The digest of `lines` under `label`, within one message's length, and how many lines
    it holds; the rest are counted at the end ("… +3") and sent with the next digest. `dropped`
    lines came while the digest was full: counted in the header and said once, not kept."""
    header = f"📬 {label} ({len(lines) + dropped})"
    if dropped:
        header += "\n" + NOT_KEPT.format(count=dropped, most=DIGEST_MAX_LINES)
    text, used = header, 0
    for line in lines:
        candidate = f"{text}\n• {line}"
        more = MORE.format(count=len(lines) - used - 1)
        if _utf16(candidate) + _utf16("\n" + more) > MAX_UTF16:
            break
        text, used = candidate, used + 1
    if used < len(lines):
        text += "\n" + MORE.format(count=len(lines) - used)
    return text, used


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
