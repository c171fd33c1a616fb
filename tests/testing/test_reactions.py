"""Reactions: `react` queues message_reaction as Telegram does (only when asked for explicitly,
in groups only for an administrator, never in channels, where counts come instead), and
setMessageReaction sets the bot's own; plus Telegram's default allowed_updates."""

from __future__ import annotations

import pytest
from telegram import Bot, ReactionTypeCustomEmoji, ReactionTypeEmoji

from bot.testing import FakeTelegram, JSONDict
from tests.testing.api import Api

USER = 42
GROUP = -123
SUPERGROUP = -1001234567890
CHANNEL = -1009876543210
OWNER, ADMIN, MEMBER, STRANGER = 1, 2, 3, 5
WANTED = ["message", "message_reaction", "message_reaction_count"]
THUMBS = {"type": "emoji", "emoji": "👍"}


@pytest.fixture(autouse=True)
def _chat(telegram: FakeTelegram) -> None:
    telegram.add_chat(USER)


def ask_for(api: Api, kinds: list[str]) -> None:
    """A getUpdates that sets allowed_updates (Telegram keeps them for later calls)."""
    assert api.result("getUpdates", allowed_updates=kinds) == []


def confirm(api: Api) -> None:
    """Take every pending update and confirm it, as a poller's next offset does."""
    pending = api.result("getUpdates")
    if pending:
        api.result("getUpdates", offset=pending[-1]["update_id"] + 1)


def sent_to(api: Api, chat_id: int) -> int:
    return int(api.result("sendMessage", chat_id=chat_id, text="react to me")["message_id"])


def test_a_reaction_in_a_private_chat_is_a_message_reaction_update(
    api: Api, telegram: FakeTelegram
) -> None:
    ask_for(api, WANTED)
    message_id = sent_to(api, USER)
    update = telegram.react(USER, USER, message_id, emoji=["👍"])
    [got] = api.result("getUpdates")
    assert got == update
    change = got["message_reaction"]
    assert list(change) == ["chat", "message_id", "user", "date", "old_reaction", "new_reaction"]
    assert (change["chat"]["id"], change["message_id"], change["user"]["id"]) == (
        USER,
        message_id,
        USER,
    )
    assert (change["old_reaction"], change["new_reaction"]) == ([], [THUMBS])


def test_new_reactions_replace_the_users_old_ones(api: Api, telegram: FakeTelegram) -> None:
    ask_for(api, WANTED)
    message_id = sent_to(api, USER)
    telegram.react(USER, USER, message_id, emoji=["👍"])
    telegram.react(USER, USER, message_id, emoji=["🔥"], custom_emoji=["5368324170671202286"])
    telegram.react(USER, USER, message_id)  # all taken back
    changes = [u["message_reaction"] for u in api.result("getUpdates")]
    fire_and_custom = [
        {"type": "emoji", "emoji": "🔥"},
        {"type": "custom_emoji", "custom_emoji_id": "5368324170671202286"},
    ]
    assert [(c["old_reaction"], c["new_reaction"]) for c in changes] == [
        ([], [THUMBS]),
        ([THUMBS], fire_and_custom),
        (fire_and_custom, []),
    ]
    assert telegram.reactions_on(USER, message_id) == {}


def test_reactions_reach_only_a_bot_that_asked_for_them(api: Api, telegram: FakeTelegram) -> None:
    """Telegram's default set (no allowed_updates, or []) leaves message_reaction out."""
    message_id = sent_to(api, USER)
    telegram.react(USER, USER, message_id, emoji=["👍"])
    ask_for(api, [])
    telegram.react(USER, USER, message_id, emoji=["🔥"])
    ask_for(api, ["message"])
    telegram.react(USER, USER, message_id, emoji=["👍"])
    assert api.result("getUpdates") == []
    # The reactions are there all the same: only the updates were never made.
    assert telegram.reactions_on(USER, message_id) == {USER: [THUMBS]}
    ask_for(api, ["message_reaction"])
    telegram.react(USER, USER, message_id, emoji=["🔥"])
    [got] = api.result("getUpdates")
    assert got["message_reaction"]["old_reaction"] == [THUMBS]


def test_the_default_set_still_has_what_it_had(api: Api, telegram: FakeTelegram) -> None:
    """Only chat_member, message_reaction and message_reaction_count are left out."""
    said = telegram.user_says(USER, "hi")
    telegram.block(USER)
    kinds = [next(k for k in u if k != "update_id") for u in api.result("getUpdates")]
    assert kinds == ["message", "my_chat_member"]
    assert said["update_id"] == 1


@pytest.mark.parametrize(
    ("bot_status", "heard"),
    [("administrator", True), ("member", False)],
)
def test_in_a_group_only_an_administrator_bot_gets_reactions(
    api: Api, telegram: FakeTelegram, bot_status: str, heard: bool
) -> None:
    telegram.add_group(
        SUPERGROUP,
        chat_type="supergroup",
        creator=OWNER,
        admins=(ADMIN,),
        members=(MEMBER,),
        bot_status=bot_status,
    )
    ask_for(api, WANTED)
    said = telegram.user_says(MEMBER, "/poll", chat=SUPERGROUP)["message"]
    confirm(api)
    update = telegram.react(OWNER, SUPERGROUP, said["message_id"], emoji=["👍"])
    assert update["message_reaction"]["user"]["id"] == OWNER
    assert bool(api.result("getUpdates")) is heard
    assert telegram.reactions_on(SUPERGROUP, said["message_id"]) == {OWNER: [THUMBS]}


def test_an_anonymous_administrator_reacts_as_the_chat(api: Api, telegram: FakeTelegram) -> None:
    telegram.add_group(GROUP, creator=OWNER, admins=(ADMIN,), bot_status="administrator")
    ask_for(api, WANTED)
    message_id = sent_to(api, GROUP)
    telegram.react(ADMIN, GROUP, message_id, emoji=["👍"], anonymous=True)
    [got] = api.result("getUpdates")
    change = got["message_reaction"]
    assert "user" not in change
    assert change["actor_chat"]["id"] == GROUP


def test_a_channel_gives_counts_never_who_reacted(api: Api, telegram: FakeTelegram) -> None:
    telegram.add_channel(CHANNEL, creator=OWNER, members=(MEMBER, STRANGER))
    ask_for(api, WANTED)
    message_id = sent_to(api, CHANNEL)
    telegram.react(MEMBER, CHANNEL, message_id, emoji=["👍"])
    telegram.react(STRANGER, CHANNEL, message_id, emoji=["👍"])
    telegram.react(OWNER, CHANNEL, message_id, emoji=["🔥"])
    updates = api.result("getUpdates")
    assert all("message_reaction" not in u for u in updates)
    last = updates[-1]["message_reaction_count"]
    assert (last["chat"]["id"], last["message_id"]) == (CHANNEL, message_id)
    assert last["reactions"] == [
        {"type": THUMBS, "total_count": 2},
        {"type": {"type": "emoji", "emoji": "🔥"}, "total_count": 1},
    ]


@pytest.mark.parametrize(
    ("who", "chat", "message", "error"),
    [
        (USER, USER, 999, "has no message 999"),
        (USER, 77, 1, "no chat 77"),
        (7, USER, None, "only user 42 reacts"),
        (STRANGER, GROUP, None, "user 5 is not in chat -123"),
    ],
)
def test_a_reaction_telegram_could_not_have_is_a_value_error(
    api: Api, telegram: FakeTelegram, who: int, chat: int, message: int | None, error: str
) -> None:
    telegram.add_group(GROUP, creator=OWNER, members=(MEMBER,), bot_status="administrator")
    message_id = sent_to(api, chat) if message is None else message
    with pytest.raises(ValueError, match=error):
        telegram.react(who, chat, message_id, emoji=["👍"])


def test_users_react_to_users_messages_too(api: Api, telegram: FakeTelegram) -> None:
    ask_for(api, WANTED)
    said = telegram.user_says(USER, "hello")["message"]
    telegram.react(USER, USER, said["message_id"], emoji=["❤"])
    kinds = [sorted(u)[0] for u in api.result("getUpdates")]
    assert kinds == ["message", "message_reaction"]


# -- the bot's own reactions ----------------------------------------------------------------


def test_the_bot_sets_its_reaction_and_no_update_is_made(api: Api, telegram: FakeTelegram) -> None:
    ask_for(api, WANTED)
    said = telegram.user_says(USER, "hello")["message"]
    confirm(api)
    assert api.result(
        "setMessageReaction", chat_id=USER, message_id=said["message_id"], reaction=[THUMBS]
    )
    bot_id = int(telegram.token.split(":")[0])
    assert telegram.reactions_on(USER, said["message_id"]) == {bot_id: [THUMBS]}
    assert api.result("getUpdates") == []  # "isn't received for reactions set by bots"
    api.result("setMessageReaction", chat_id=USER, message_id=said["message_id"])
    assert telegram.reactions_on(USER, said["message_id"]) == {}


@pytest.mark.parametrize(
    ("params", "description"),
    [
        ({"message_id": 999, "reaction": [THUMBS]}, "Bad Request: message to react not found"),
        ({"reaction": "{x"}, "Bad Request: can't parse reaction types JSON object"),
        ({"reaction": {"type": "emoji"}}, "Bad Request: expected an Array of ReactionType"),
        (
            {"reaction": [{"type": "paid"}]},
            "Bad Request: can't parse ReactionType: invalid reaction type specified",
        ),
        (
            {"reaction": [THUMBS, {"type": "emoji", "emoji": "🔥"}]},
            "Bad Request: REACTIONS_TOO_MANY",
        ),
    ],
)
def test_set_message_reaction_refuses_what_telegram_refuses(
    api: Api, telegram: FakeTelegram, params: JSONDict, description: str
) -> None:
    said = telegram.user_says(USER, "hello")["message"]
    call: JSONDict = {"chat_id": USER, "message_id": said["message_id"], **params}
    assert api.refusal("setMessageReaction", **call) == description


async def test_python_telegram_bot_reads_reactions(tg_bot: Bot, telegram: FakeTelegram) -> None:
    await tg_bot.get_updates(timeout=0, allowed_updates=WANTED)
    sent = await tg_bot.send_message(USER, "rate me")
    await tg_bot.set_message_reaction(USER, sent.message_id, ReactionTypeEmoji("👍"))
    telegram.react(USER, USER, sent.message_id, custom_emoji=["5368324170671202286"])
    [update] = await tg_bot.get_updates(timeout=0)
    change = update.message_reaction
    assert change is not None
    assert change.user is not None
    assert change.user.id == USER
    assert change.new_reaction == (ReactionTypeCustomEmoji("5368324170671202286"),)
    assert change.old_reaction == ()
