"""The bot's HTTP side on PORT: /healthz, /metrics, and in webhook mode the endpoint Telegram
POSTs updates to. aiohttp's server: already installed (the send path runs on aiohttp)."""

from __future__ import annotations

import hmac
import json
from typing import Any

import structlog
from aiohttp import web
from telegram import Update
from telegram.ext import Application

from bot.ops.health import Health
from bot.ops.metrics import Metrics

log = structlog.get_logger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


class Webhook:
    """Takes Telegram's POSTed updates into python-telegram-bot's update queue; a request
    without the matching secret header gets 403 and a log line, and is never processed."""

    def __init__(self, application: Application, path: str, secret: str) -> None:  # type: ignore[type-arg]
        self.application = application
        self.path = path or "/"
        self._secret = secret.encode()

    async def handle(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER)
        # Headers arrive decoded with surrogateescape: any bytes at all encode back.
        raw = None if given is None else given.encode("utf-8", "surrogateescape")
        if raw is None or not hmac.compare_digest(raw, self._secret):
            log.warning(
                "webhook_forbidden",
                reason="no secret header" if given is None else "wrong secret header",
                remote=request.remote,
            )
            return web.json_response({"ok": False, "error": "forbidden"}, status=403)
        try:
            data = await request.json()
            update = Update.de_json(data, self.application.bot)
        except Exception as exc:  # noqa: BLE001 - anything unparsable is the sender's problem
            log.warning("webhook_bad_update", error=str(exc) or type(exc).__name__)
            return web.json_response({"ok": False, "error": "not an update"}, status=400)
        await self.application.update_queue.put(update)
        return web.json_response({"ok": True})


class HttpServer:
    """Serves /healthz, /metrics and (optionally) the webhook on one port."""

    def __init__(self, health: Health, metrics: Metrics, webhook: Webhook | None = None) -> None:
        self._health = health
        self._metrics = metrics
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/metrics", self._metrics_page)
        if webhook is not None:
            app.router.add_post(webhook.path, webhook.handle)
        self._runner = web.AppRunner(app, access_log=None)  # Telegram's POSTs would flood logs
        self.port: int | None = None

    async def start(self, host: str, port: int) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the real one when `port` is 0
        log.info("http_listening", host=host, port=self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()

    async def _healthz(self, _request: web.Request) -> web.Response:
        """200 and a JSON report (Redis, the sources, leadership, Telegram) when this instance
        can do its work, 503 when a source it runs cannot read: what a platform's health check
        restarts on."""
        healthy, body = await self._health.report()
        return web.json_response(body, status=200 if healthy else 503, dumps=_dumps)

    async def _metrics_page(self, _request: web.Request) -> web.Response:
        """Prometheus text format: the metrics (docs: reference/metrics.md)."""
        # What lives in Redis (the streams' backlog, the instances) is read per scrape: the
        # send path keeps none of it. Redis down: the counters are served all the same.
        self._metrics.observe(await self._health.readings())
        body, content_type = self._metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response


def _dumps(body: Any) -> str:
    return json.dumps(body, separators=(",", ":"))
