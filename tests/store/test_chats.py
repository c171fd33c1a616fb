"""A user's chats as the registry stores them: compact, and read back as they were linked."""

from __future__ import annotations

from bot.store.chats import LinkedChat, decode_chats, encode_chats


def test_chats_are_stored_compactly_and_read_back() -> None:
    chats = (LinkedChat(9001), LinkedChat(-1001, "group", 7), LinkedChat(-1002, "channel"))
    assert encode_chats(chats) == "9001:p,-1001:g:7,-1002:c"
    assert decode_chats(encode_chats(chats).encode()) == chats
    assert decode_chats(None) == ()


def test_a_notification_for_some_kinds_of_chat_wants_only_those() -> None:
    private, group, channel = LinkedChat(1), LinkedChat(-2, "group"), LinkedChat(-3, "channel")
    assert [c for c in (private, group, channel) if c.wanted("groups")] == [group]
    assert [c for c in (private, group, channel) if c.wanted("channels")] == [channel]
    assert [c for c in (private, group, channel) if c.wanted("private")] == [private]
    assert all(c.wanted("all") for c in (private, group, channel))
