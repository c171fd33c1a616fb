"""Link tokens and deep links: random, within Telegram's payload rule, and read back as stored."""

from __future__ import annotations

import re

import pytest

from bot.store.link_tokens import Token, deep_link, new_link_token, read_token, token_value


def test_link_tokens_are_long_random_and_deep_link_safe() -> None:
    tokens = {new_link_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for token in tokens:
        # 43 characters of a 64-letter alphabet: 256 bits, within Telegram's 64-character limit.
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)


def test_a_deep_link_opens_a_private_chat_or_asks_for_a_group() -> None:
    assert deep_link("shop_bot", "abc-_9") == "https://t.me/shop_bot?start=abc-_9"
    assert deep_link("shop_bot", "abc", group=True) == "https://t.me/shop_bot?startgroup=abc"


@pytest.mark.parametrize(
    ("username", "token"),
    [
        ("shop_bot", ""),
        ("shop_bot", "x" * 65),
        ("shop_bot", "a b"),
        ("shop_bot", "../x"),
        ("bot", "abc"),
    ],
)
def test_a_payload_outside_telegrams_rule_or_no_bot_username_is_refused(
    username: str, token: str
) -> None:
    with pytest.raises(ValueError, match=r"payload|username"):
        deep_link(username, token)


def test_a_tokens_value_reads_back_as_whose_and_what_kind_of_chat() -> None:
    assert token_value(42, "private") == "42"  # as schema 1 stored every token
    assert read_token(b"42") == Token(42, "private")
    assert read_token(token_value(42, "channel").encode()) == Token(42, "channel")
    assert read_token(token_value(42, "group")) == Token(42, "group")


@pytest.mark.parametrize("stored", [None, b"", b"x", b"42:planet", b"x:group"])
def test_a_missing_or_foreign_value_is_no_token(stored: bytes | None) -> None:
    assert read_token(stored) is None
