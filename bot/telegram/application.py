"""python-telegram-bot's Application as the bot drives it (the conversation: replies, menus,
broadcast progress; deliveries have sender.py): its requests, long polling on a request of its
own, every request to a chat paced, updates one chat at a time, and in webhook mode a standby's
requests to a chat made by the leader."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio
from telegram.ext import Application, ApplicationBuilder, BaseUpdateProcessor

from bot.config.settings import Settings
from bot.telegram.pacing import REPLY_MAX_WAIT, PacedRequests, Pacer
from bot.telegram.relay import Relay
from bot.telegram.transport import ApiObserver, ObservedRequest, polling_request, sending_request
from bot.telegram.updates import POLL_TIMEOUT

CONCURRENT_UPDATES = 16  # replies on their way to Telegram at once, about (see new_conversation)
# A relayed reply waits at most REPLY_MAX_WAIT for its chat's turn at the leader, then its send.
RELAY_PACING_ALLOWANCE = REPLY_MAX_WAIT + 5.0


@dataclass(kw_only=True)
class Conversation:
    """The Application, and the two request hooks the relay changes in webhook mode."""

    application: Application  # type: ignore[type-arg]
    requests: ObservedRequest  # every call but getUpdates
    paced: PacedRequests  # the turn each call to a chat takes at the pacer


def new_conversation(
    settings: Settings, observer: ApiObserver, pacer: Pacer, updates: BaseUpdateProcessor
) -> Conversation:
    """The Application with its requests reported to `observer`, its calls to chats paced by
    `pacer` (the deliveries' own), and its updates handled by `updates`."""
    timeout = settings.telegram_timeout
    # Replies to the updates handled side by side, and a few more (deliveries have theirs).
    proxy = settings.proxy  # TELEGRAM_PROXY: every request to Telegram goes through it
    requests = sending_request(observer, CONCURRENT_UPDATES + 8, timeout, proxy)
    paced = PacedRequests(pacer)
    application = (
        ApplicationBuilder()
        .token(settings.token)
        .base_url(settings.telegram_base_url)
        .request(requests)
        # Long polling keeps httpx's own transport (but through a proxy): one request at a
        # time, no pool to speak of.
        .get_updates_request(polling_request(observer, POLL_TIMEOUT, timeout, proxy))
        # Every request to a chat (deliveries, replies, broadcast progress) is paced.
        .rate_limiter(paced)
        # Updates are handled side by side, one chat at a time (chat/per_chat.py): an admin's
        # /send waiting for its outcome, or a group's replies waiting for their pace, must not
        # hold up everyone's /start.
        .concurrent_updates(updates)
        .build()
    )
    return Conversation(application=application, requests=requests, paced=paced)


def relay_to_leader(
    conversation: Conversation,
    client: redis.asyncio.Redis,
    bot_id: str,
    *,
    leading: Callable[[], bool],
    timeout: float,
) -> Relay:
    """Webhook mode: any instance handles the updates it is given; its messages to a chat take
    their turn at the leader's pacer, beside the notifications (relay.py). The leader runs the
    returned relay's `serve`. `client` must not retry on its own: a request pushed twice after
    a lost answer would be answered twice."""
    base_url = conversation.application.bot.base_url  # with the token, as the library builds it
    requests, paced = conversation.requests, conversation.paced
    relay = Relay(
        client,
        bot_id,
        paced.pacer,
        lambda method, data: requests.direct(f"{base_url}/{method}", "POST", data),
        leading=leading,
        answer_within=timeout + RELAY_PACING_ALLOWANCE,
    )
    requests.relay = relay
    paced.relayed = lambda: not leading()  # the leader paces it
    return relay
