"""Replies made on a standby go out through the leader: in webhook mode any instance handles the
update it is given, but only the leader's pacer knows what each chat was sent, so a reply to a
chat must take its turn there, beside the notifications, or the two together could cause a 429."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio
import structlog
from redis.exceptions import RedisError
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.loops.reconnect import Backoff, keep_connected, stop_if_cancelled
from bot.telegram.pacing import PACED_PREFIXES, REPLY_MAX_WAIT, REPLY_RANK, Pacer, ReplyDropped

log = structlog.get_logger(__name__)

RELAY_KEY = "notify:relay:{bot_id}"  # list: requests from standbys for the leader to make
ANSWER_KEY = "notify:relay:{bot_id}:{request}"  # list: the leader's answer to one request
POP_SECONDS = 2  # a blocking pop, below the client's 5 s socket timeout
TAKEN_WITHIN = 2.5  # a live leader pops a request at once; still there after this: no leader
ANSWER_KEEP = 60  # seconds an answer nobody collects stays in Redis

# Makes one Bot API call the way python-telegram-bot would: (HTTP status, body).
Post = Callable[[str, RequestData], Awaitable[tuple[int, bytes]]]


def relayed_data(params: dict[str, str]) -> RequestData:
    """The request data of form fields already JSON-encoded (strings are sent as they are)."""
    return RequestData([RequestParameter(name, value, None) for name, value in params.items()])


class Relay:
    """Both sides of one relay. A standby calls `forward` for each request to a chat and gets
    Telegram's answer as the leader received it (python-telegram-bot then parses it, errors
    included, as if it had made the call); the leader runs `serve`. Without a leader (a takeover
    under way, or Redis down) a standby makes the call itself, paced by its own pacer only."""

    def __init__(
        self,
        client: redis.asyncio.Redis,
        bot_id: str,
        pacer: Pacer,
        post: Post,
        *,
        leading: Callable[[], bool],
        answer_within: float,
    ) -> None:
        self._redis = client
        self._key = RELAY_KEY.format(bot_id=bot_id)
        self._bot_id = bot_id
        self._pacer = pacer
        self._post = post
        self.leading = leading
        self._answer_within = answer_within
        self._tasks: set[asyncio.Task[None]] = set()
        self._backoff = Backoff("relay", base=0.5, cap=5.0)

    def wants(self, method: str, request_data: RequestData | None) -> bool:
        """Whether a call goes through the leader: a message to a chat, made on a standby, no
        upload (files are not relayed; a command reply never uploads)."""
        if self.leading() or request_data is None or request_data.contains_files:
            return False
        chat_id = request_data.json_parameters.get("chat_id")
        # Only what the chat's pace counts: messages sent or changed (getChatMember, a
        # deletion and the like go straight out).
        return method.startswith(PACED_PREFIXES) and chat_id is not None

    async def forward(self, method: str, request_data: RequestData) -> tuple[int, bytes] | None:
        """Telegram's answer to the call, made by the leader; None when no leader took it (the
        caller makes it itself). TimedOut when a leader took it but gave no answer in time: it
        may have been made."""
        request = uuid.uuid4().hex
        message = json.dumps(
            {"id": request, "method": method, "params": request_data.json_parameters}
        )
        answer_key = ANSWER_KEY.format(bot_id=self._bot_id, request=request)
        try:
            await self._redis.lpush(self._key, message)
            started = time.monotonic()
            taken = False
            while time.monotonic() - started < self._answer_within:
                reply: Any = await self._redis.brpop([answer_key], timeout=POP_SECONDS)
                if reply is not None:
                    answer = json.loads(reply[1])
                    return _answered(answer)
                if not taken and time.monotonic() - started >= TAKEN_WITHIN:
                    if await self._redis.lrem(self._key, 1, message):
                        log.warning("relay_no_leader", method=method)
                        return None
                    taken = True
        except RedisError as exc:
            log.warning("relay_unavailable", method=method, error=str(exc))
            return None
        raise TimedOut(f"the leader gave no answer to {method} within {self._answer_within:g} s")

    async def serve(self) -> None:
        """The leader's side, until cancelled: make each relayed call in its chat's turn."""
        try:
            await keep_connected(self._serve, self._backoff, (RedisError,))
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self) -> None:
        while True:
            stop_if_cancelled()
            popped: Any = await self._redis.brpop([self._key], timeout=POP_SECONDS)
            self._backoff.recovered()
            if popped is None:
                continue
            task = asyncio.create_task(self._answer(json.loads(popped[1])))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _answer(self, request: dict[str, Any]) -> None:
        params: dict[str, str] = request["params"]
        chat_id = params.get("chat_id", "")
        answer: dict[str, object]
        try:
            if chat_id.lstrip("-").isdigit():
                await asyncio.wait_for(
                    self._pacer.wait_turn(int(chat_id), REPLY_RANK), REPLY_MAX_WAIT
                )
            code, body = await self._post(request["method"], relayed_data(params))
            answer = {"code": code, "body": body.decode("utf-8", "replace")}
        except TimeoutError:
            answer = {
                "error": "dropped",
                "message": f"the chat's turn is over {REPLY_MAX_WAIT} s away",
            }
        except TimedOut as exc:
            answer = {"error": "timeout", "message": exc.message}
        except NetworkError as exc:
            answer = {"error": "network", "message": exc.message}
        answer_key = ANSWER_KEY.format(bot_id=self._bot_id, request=request["id"])
        with contextlib.suppress(RedisError):
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.lpush(answer_key, json.dumps(answer))
                pipe.expire(answer_key, ANSWER_KEEP)
                await pipe.execute()


def _answered(answer: dict[str, Any]) -> tuple[int, bytes]:
    if answer.get("error") == "dropped":
        raise ReplyDropped(str(answer.get("message", "dropped")))
    if answer.get("error") == "timeout":
        raise TimedOut(str(answer.get("message", "Timed out")))
    if "error" in answer:
        raise NetworkError(str(answer.get("message", "Network error")))
    return int(answer["code"]), str(answer["body"]).encode()
