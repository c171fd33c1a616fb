"""The bot's settings: read once from the environment (and an optional .env file)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import socket
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote, urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.config.proxy import SOCKS_PACKAGE, Proxy, parse_proxy
from bot.config.sentry import check_dsn, dsn_secrets
from bot.preferences import Category, parse_categories, parse_digest

TELEGRAM_API_URL = "https://api.telegram.org/bot"
FREE_PER_SECOND = 30.0  # Telegram's overall limit for a bot
PAID_BROADCAST_PER_SECOND = 1000.0  # with allow_paid_broadcast (paid in Telegram Stars)
TOKEN_PATTERN = re.compile(r"^\d+:[A-Za-z0-9_-]{20,}$")
SECRET_TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # Telegram's rule for secret_token


def _process_name() -> str:
    """Unique per running process on one host: host name and process id."""
    return f"{socket.gethostname()}-{os.getpid()}"


class ConfigError(Exception):
    """A setting is missing or invalid; the message is one line naming the variable."""


class Settings(BaseSettings):
    """Everything the bot reads from its environment. Tests build it directly."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        case_sensitive=False,
        # Each setting's docstring is its description: the docs' settings reference is made
        # from them (bot.tools.reference).
        use_attribute_docstrings=True,
    )

    # Required to run the bot; commands that only publish or describe can do without it.
    bot_token: SecretStr | None = None
    """the token from @BotFather; never logged"""
    redis_url: str = "redis://localhost:6379/0"
    """`redis://`, `rediss://` (TLS) or `unix://`"""
    redis_ssl_cert_reqs: Literal["required", "optional", "none"] = "required"
    """certificate checks for `rediss://`: `required`, `optional` or `none`. Heroku Redis uses
    self-signed certificates: set `none` there"""
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    """Telegram user ids allowed to run admin commands, comma-separated (ask @userinfobot for
    yours)"""
    # Sources: an empty name turns that source off.
    notification_channel: str = "notification"
    """the pub/sub channel to listen on; empty: no pub/sub. Channels are server-wide:
    deployments sharing a Redis server (on other databases) need names of their own"""
    notification_stream: str = "notifications"
    """the stream to consume (entries with one field `payload`); empty: no stream"""
    stream_group: str = Field(default="notify-bot", min_length=1)
    """the stream's consumer group"""
    # Who this process is, in the stream's consumer group, the leader lock and the heartbeats.
    # Heroku's DYNO ("worker.1") is stable across restarts: a restarted worker takes its lock
    # back at once. Without it, host name and process id: unique per running process (two on
    # one host must never share a name). Either way, what a dead instance left pending is
    # taken over by the leader once its heartbeat has stopped (bot/cluster/liveness.py).
    stream_consumer: str = Field(
        default_factory=_process_name,
        min_length=1,
        validation_alias=AliasChoices("stream_consumer", "dyno"),
    )
    """this instance's name in the consumer group and the leader lock; unique per running
    process. A stable one (as `DYNO` is) lets a restart resume its own pending entries at
    once"""
    stream_maxlen: int = Field(default=100_000, ge=1000)
    """approximate cap on the stream length used by publishers and hand-back"""
    idempotency_window_seconds: int = Field(default=24 * 3600, gt=0)
    """how long a delivered `id` is remembered"""
    # What was sent for each notification id is remembered this long, for its edit or delete.
    message_memory_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    """how long what was sent for an `id` (chat, message ids) is remembered, for its edit or
    delete"""
    receipt_channel: str = "notification:receipts"
    """where delivery receipts are published; empty: none"""
    # Taps on action buttons become events on this stream (the web app reads it); a button
    # works for ACTION_TTL_SECONDS after its notification was sent.
    actions_stream: str = Field(default="notification:actions", min_length=1)
    """the stream taps on action buttons are added to (field `payload`), for the web app to read"""
    action_ttl_seconds: int = Field(default=30 * 24 * 3600, gt=0)
    """how long an action button works after its notification was sent (its key's expiry in
    Redis)"""
    # What the chat says back (replies, reactions, reminders nobody acknowledged) becomes an
    # event on this stream, capped at about FEEDBACK_MAXLEN; taps stay on ACTIONS_STREAM.
    feedback_stream: str = Field(default="notification:feedback", min_length=1)
    """the stream replies, reactions and reminders nobody acknowledged are added to (field
    `payload`), for the web app to read (docs: guides/replies-and-reminders.md); taps stay on
    `ACTIONS_STREAM`"""
    feedback_maxlen: int = Field(default=100_000, ge=100)
    """about how many events `FEEDBACK_STREAM` keeps (`MAXLEN ~`)"""
    # The shortest `remind.every` a notification may ask for (tests shorten it).
    remind_min_seconds: int = Field(default=60, ge=1)
    """the shortest `remind.every` a notification may ask for (tests lower it; the publisher
    takes `remind_min_seconds=` to match)"""
    # Each chat linked or unlinked becomes an event on this stream, in the same transaction.
    # Never off (empty is refused): the web app's publisher writes to it too (unlink), and a
    # reader waiting on a stream nobody fills would never learn why.
    link_events_stream: str = Field(default="notification:links", min_length=1)
    """the stream each chat linked or unlinked is added to (field `payload`), for the web app to
    read (docs: guides/web-app.md, Link events); capped at about `STREAM_MAXLEN`. It cannot
    be empty: the web app's `unlink()` writes to it too, and a reader of a stream nobody
    fills would wait without knowing why"""
    # Kinds of notification a chat user can turn off or have digested ("orders:Order
    # updates,news:News!": a trailing ! cannot be muted), and digest windows per category.
    categories: Annotated[tuple[Category, ...], NoDecode] = ()
    """the kinds of notification a user may turn off: `name:Label` items separated by commas,
    e.g. `orders:Order updates,news:News and offers,security:Security alerts!`; a trailing
    `!` marks one a user cannot mute (it always arrives, at once, with a sound);
    `|de=Bestellungen` after a label gives it in another language
    (`orders:Orders|de=Bestellungen|fr=Commandes`: the mute button, a digest's title and
    `/settings` show the reader's). Names are 1-32 of `a-z0-9_-`. A malformed value stops
    start-up: `CATEGORIES: item 2 ('news') needs a label: name:Label`"""
    digest: Annotated[dict[str, int], NoDecode] = Field(default_factory=dict)
    """categories collected into one message per window for every user who has not chosen
    otherwise: `category:seconds` items, e.g. `news:3600` (60 s to 7 days; the category must
    be declared and mutable). A user can turn a digest on or off per category in `/settings`;
    a window for a category not listed here is an hour"""
    # Localized templates (bot/templates/): a directory of TOML files, one per template; unset:
    # templates off. DEFAULT_LANGUAGE: a template's language for a user who picked none and
    # whose Telegram language it lacks (then its first table).
    templates_dir: Path | None = None
    """a directory of templates, one TOML file per template (docs: guides/templates.md); empty:
    templates off.
    Every file is checked at start-up; a bad one stops it with exit 2 and one line naming
    file, language and line: `config error: TEMPLATES_DIR: order_shipped.toml [de] line 5:
    message: unexpected '}'`"""
    default_language: str = Field(default="en", pattern=r"^[a-z]{2,3}$")
    """a template's language for a user who picked none and whose Telegram language it lacks
    (then its first table), and of a category's label likewise; a primary subtag such as `de`"""
    deadletter_maxlen: int = Field(default=10_000, ge=1)
    """dead letters kept at most (oldest dropped)"""
    # A dead letter keeps at most this much of its payload (the rest is cut and marked).
    deadletter_max_payload_bytes: int = Field(default=64 * 1024, ge=1024)
    """bytes of a dead letter's payload kept; the rest is cut off and the letter marked
    `truncated` (a replay skips it)"""

    telegram_base_url: str = TELEGRAM_API_URL
    """python-telegram-bot's `base_url` (deliveries use it too), e.g.
    `http://127.0.0.1:8081/bot` for a self-hosted Bot API server"""
    telegram_timeout: float = Field(default=10.0, gt=0)
    """seconds before a Telegram request counts as hung (connecting, each read, and for
    python-telegram-bot's requests each write; a delivery's whole request takes at most three
    times it)"""
    # None: Telegram's 30/s, or 1000/s with paid broadcasts.
    telegram_max_per_second: float | None = Field(default=None, gt=0)
    """messages per second overall"""
    telegram_paid_broadcast: bool = False
    """send with `allow_paid_broadcast` (paid in Telegram Stars) and allow 1000/s"""
    telegram_proxy: SecretStr | None = None
    """every request to Telegram (python-telegram-bot's and the deliveries') goes through this
    proxy: `http://[user:password@]host:port`, or `socks5://...` with the `notify-bot[socks]`
    extra (on Heroku: add `aiohttp-socks` to requirements.txt); empty: none. Its password is
    never logged"""
    telegram_chat_burst: int = Field(default=3, ge=1)
    """messages a private chat may get at once"""
    telegram_chat_per_second: float = Field(default=1.0, gt=0)
    """sustained messages per second to one private chat"""
    telegram_group_per_minute: int = Field(default=20, ge=1)
    """messages per minute to one group"""

    link_ttl_seconds: int = Field(default=24 * 3600, gt=0)
    """how long a deep link (or a channel's token) stays valid"""
    # Chats one web-app user may link (private chats, groups, channels): a notification goes to
    # each, so this bounds what one publish costs.
    max_chats_per_user: int = Field(default=5, ge=1, le=50)
    """chats one web-app user may link (private chats, groups, channels; 1-50): each gets every
    notification of the user, so this bounds what one notification costs. A link over it is
    refused with how to free one"""
    # Messages a user may send the bot at once, and per minute after that; admins are exempt.
    command_burst: int = Field(default=5, ge=1)
    """messages a user may send the bot at once; more are dropped before any handler runs (one
    "slow down" reply); admins are exempt"""
    command_per_minute: float = Field(default=20.0, gt=0)
    """how fast that budget refills"""
    # A longer message is refused as invalid (eight Telegram messages; at most ~384 KB of JSON).
    message_max_chars: int = Field(default=32_768, ge=1, le=1_000_000)
    """a longer `message` is refused as `invalid` (dead-lettered with the reason); a payload
    larger than 12 bytes per allowed character plus 64 KB is refused before it is parsed"""
    # In flight = rate x round trip: 1000/s (paid broadcasts) at ~100 ms needs ~100.
    delivery_concurrency: int = Field(default=128, ge=1, le=1024)
    """sendMessage calls in flight at most; the rate it allows is this divided by Telegram's
    round trip (128 / 50 ms ≈ 2,500/s)"""
    delivery_max_attempts: int = Field(default=5, ge=1, le=100)
    """attempts for timeouts, connection errors and 5xx before dead-lettering"""
    delivery_retry_base: float = Field(default=0.5, gt=0)
    """first retry delay in seconds; doubles per attempt, with jitter"""
    delivery_retry_max: float = Field(default=30.0, gt=0)
    """longest retry delay in seconds"""
    # Telegram unreachable this long (getMe unanswered) and the notifications waiting fail.
    telegram_outage_max_seconds: float = Field(default=600.0, gt=0)
    """how long a notification waits while Telegram is unreachable before it fails
    (dead-lettered); shorter outages lose nothing"""
    shutdown_timeout: float = Field(default=8.0, gt=0)
    """seconds in-flight notifications get to finish on SIGTERM; sends already under way then
    get one `TELEGRAM_TIMEOUT` more (cut off in flight, they would be sent again)"""
    pause_buffer_max: int = Field(default=10_000, ge=0)
    """pub/sub notifications held in memory while delivery is paused (`/pause`); more are
    dead-lettered"""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """`DEBUG`, `INFO`, `WARNING` or `ERROR`"""
    log_format: Literal["json", "console"] | None = None
    """`json` (one object per line) or `console`; auto is console on a terminal, json otherwise"""
    # no-color.org: set to anything but "" (NO_COLOR=1), console logs have no colour codes even
    # on a terminal.
    no_color: str = ""
    """anything but empty: console logs without colour codes, on a terminal too
    ([no-color.org](https://no-color.org))"""
    sentry_dsn: SecretStr | None = None
    """report crashes, errors, dead letters and outages to this Sentry project's DSN, tokens and
    message texts scrubbed; needs the `notify-bot[sentry]` extra (on Heroku: add `sentry-sdk`
    to requirements.txt); empty: off. Never logged"""

    # HTTP: /healthz and /metrics whenever PORT is set (the platform sets it for web processes);
    # with WEBHOOK_URL, Telegram's updates arrive there too instead of by polling.
    port: int | None = Field(default=None, ge=0, le=65535)  # 0: any free port (tests)
    """serve `/healthz` and `/metrics` on this port (platforms set it for `web` processes);
    empty: no HTTP server. Required by `WEBHOOK_URL`"""
    http_host: str = "0.0.0.0"  # noqa: S104 - a platform's router reaches the dyno from outside
    """the address the HTTP server binds"""
    webhook_url: str = ""
    """the public `https://` URL Telegram should POST updates to (e.g.
    `https://<app>.herokuapp.com/telegram`); set: webhook mode, no polling. Telegram accepts
    ports 443, 80, 88 and 8443 only"""
    webhook_secret: SecretStr | None = None
    """the `X-Telegram-Bot-Api-Secret-Token` value Telegram must send (1-256 of `A-Z a-z 0-9 _
    -`); requests without it get 403. The default is the same on every instance; never logged"""
    # One instance holds this lock and polls Telegram and reads pub/sub; others stand by.
    # Short, so a dead leader is replaced within ~2.5 s; long enough that a leader whose event
    # loop stalls for a second renews in time (it renews every third of it).
    leader_lock_ttl_seconds: float = Field(default=2.5, gt=0)
    """the leader lock's expiry: a standby instance takes over within about this of the leader
    dying (renewed every third of it)"""

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_PATTERN.fullmatch(value.get_secret_value()):
            # Never echo the value: it is a secret even when malformed.
            raise ValueError("does not look like a bot token from @BotFather (123456:ABC-...)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        scheme = urlsplit(value).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("telegram_base_url")
    @classmethod
    def _base_url_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in {"http", "https"}:
            raise ValueError(
                "must be an http:// or https:// URL, e.g. https://api.telegram.org/bot"
            )
        return value

    @field_validator("telegram_proxy")
    @classmethod
    def _proxy_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            proxy = parse_proxy(value.get_secret_value())  # never echoes the URL
            if proxy.socks and importlib.util.find_spec(SOCKS_PACKAGE) is None:
                raise ValueError(
                    "socks5:// needs aiohttp-socks: pip install 'notify-bot[socks]' "
                    "(on Heroku: add aiohttp-socks to requirements.txt)"
                )
        return value

    @field_validator("sentry_dsn")
    @classmethod
    def _dsn_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            check_dsn(value.get_secret_value())  # never echoes the DSN
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: object) -> object:
        if isinstance(value, str):
            parts = [part.strip() for part in value.split(",") if part.strip()]
            if not all(re.fullmatch(r"-?\d+", part) for part in parts):
                raise ValueError("must be comma-separated Telegram user ids, e.g. 1234,5678")
            return frozenset(int(part) for part in parts)
        return value

    @field_validator("categories", mode="before")
    @classmethod
    def _parse_categories(cls, value: object) -> object:
        return parse_categories(value) if isinstance(value, str) else value

    @field_validator("digest", mode="before")
    @classmethod
    def _parse_digest(cls, value: object) -> object:
        return parse_digest(value) if isinstance(value, str) else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_scheme(cls, value: str) -> str:
        parts = urlsplit(value)
        if value and (parts.scheme not in {"http", "https"} or not parts.hostname):
            raise ValueError("must be the public https:// URL Telegram should call, or empty")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not SECRET_TOKEN_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator(
        "port",
        "webhook_secret",
        "bot_token",
        "templates_dir",
        "telegram_proxy",
        "sentry_dsn",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("telegram_max_per_second", mode="before")
    @classmethod
    def _empty_is_default_rate(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("stream_consumer", mode="before")
    @classmethod
    def _empty_is_default_name(cls, value: object) -> object:
        # An empty STREAM_CONSUMER (a blank config var) must not hide Heroku's DYNO: a
        # dyno's host name changes on every restart, its DYNO ("worker.1") does not.
        return (os.environ.get("DYNO") or _process_name()) if value == "" else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _empty_format_is_auto(cls, value: object) -> object:
        if isinstance(value, str):
            return value.lower() or None
        return value

    @model_validator(mode="after")
    def _some_source(self) -> Settings:
        if not self.notification_channel and not self.notification_stream:
            raise ValueError(
                "NOTIFICATION_CHANNEL and NOTIFICATION_STREAM are both empty: nothing to listen to"
            )
        if self.webhook_url and self.port is None:
            raise ValueError(
                "WEBHOOK_URL is set but PORT is not: webhook mode serves Telegram on PORT, "
                "so run it as a web process (or unset WEBHOOK_URL to poll)"
            )
        return self

    @model_validator(mode="after")
    def _digest_of_declared(self) -> Settings:
        declared = {category.name: category for category in self.categories}
        for name in self.digest:
            if name not in declared:
                raise ValueError(f"DIGEST: {name!r} is not in CATEGORIES")
            if not declared[name].mutable:
                raise ValueError(f"DIGEST: {name!r} cannot be muted, so it is never digested")
        return self

    @property
    def webhook_secret_token(self) -> str:
        """WEBHOOK_SECRET, or one derived from the token so every instance agrees on it."""
        if self.webhook_secret is not None:
            return self.webhook_secret.get_secret_value()
        return hashlib.sha256(b"notify-bot webhook\0" + self.token.encode()).hexdigest()

    @property
    def overall_per_second(self) -> float:
        """The overall send limit in force."""
        if self.telegram_max_per_second is not None:
            return self.telegram_max_per_second
        return PAID_BROADCAST_PER_SECOND if self.telegram_paid_broadcast else FREE_PER_SECOND

    @property
    def proxy(self) -> Proxy | None:
        """TELEGRAM_PROXY, its address and credentials apart; None: no proxy."""
        if self.telegram_proxy is None:
            return None
        return parse_proxy(self.telegram_proxy.get_secret_value())

    @property
    def token(self) -> str:
        """The bot token; ConfigError naming BOT_TOKEN if it is not set."""
        if self.bot_token is None:
            raise ConfigError("BOT_TOKEN: is required but not set")
        return self.bot_token.get_secret_value()

    @property
    def secrets(self) -> list[str]:
        """Every secret value (token, Redis password, webhook secret, the proxy's
        password, the Sentry DSN and its key), for redaction."""
        password = urlsplit(self.redis_url).password
        token = self.bot_token.get_secret_value() if self.bot_token else None
        webhook = self.webhook_secret_token if token and self.webhook_url else None
        proxy = self.proxy
        # Both forms: aiohttp's errors quote the proxy's URL with the password percent-encoded.
        proxy_password = proxy.password if proxy is not None else None
        proxy_forms = [proxy_password, quote(proxy_password, safe="")] if proxy_password else []
        dsn = dsn_secrets(self.sentry_dsn.get_secret_value()) if self.sentry_dsn else []
        candidates = (token, password, webhook, *proxy_forms, *dsn)
        return list(dict.fromkeys(secret for secret in candidates if secret))


def load_settings(env_file: str | None = ".env", *, require_token: bool = True) -> Settings:
    """Build Settings from the environment, turning validation errors into one ConfigError line.
    With `require_token`, a missing BOT_TOKEN is such an error too."""
    try:
        settings = Settings(_env_file=env_file)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None
    if require_token:
        _ = settings.token
    return settings


def _describe(exc: ValidationError) -> str:
    """One line per problem, "NAME: reason", naming the variable but never echoing its value."""
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        message = "is required but not set" if error["type"] == "missing" else error["msg"]
        message = message.removeprefix("Value error, ")
        name = str(error["loc"][0]).upper() if error["loc"] else ""
        problems.append(f"{name}: {message[:1].lower()}{message[1:]}" if name else message)
    return "; ".join(problems)
