"""Telegram's webhook side: setWebhook's checks, getWebhookInfo, and the delivery thread that
POSTs each update to the registered URL with the secret header, retrying until answered 2xx."""

from __future__ import annotations

import json
import re
import threading
import time
import urllib.error
import urllib.request
from http import HTTPStatus
from urllib.parse import urlsplit

from bot.testing.model import ApiError, Emulated, JSONDict, is_listed, remember_allowed, truthy

# Telegram's header for the secret_token of setWebhook; written out here, not imported from the
# bot's HTTP server, so the two can disagree and a test can see it.
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
WEBHOOK_PORTS = (443, 80, 88, 8443)
WEBHOOK_RETRY_SECONDS = 0.5  # Telegram retries a failed webhook delivery, with backoff
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class WebhookMethods(Emulated):
    """setWebhook, deleteWebhook, getWebhookInfo, and delivering updates to the webhook."""

    _webhook_thread: threading.Thread | None
    _webhook_target: str | None

    def route_webhooks_to(self, address: str) -> None:
        """Where the registered webhook's host really is: "http://127.0.0.1:PORT".

        Telegram only calls HTTPS URLs on ports 443, 80, 88 or 8443, and setWebhook checks
        that here too. A platform's router (Heroku's, say) terminates TLS and forwards plain
        HTTP to the process; this plays that router: updates go to `address` + the URL's path.
        """
        with self._changed:
            self._webhook_target = address.rstrip("/")
            self._changed.notify_all()

    @property
    def webhook(self) -> JSONDict:
        """What the last setWebhook registered (empty when none): url, secret_token, ..."""
        with self._changed:
            return dict(self._state.webhook)

    @property
    def webhook_errors(self) -> list[str]:
        """Every failed webhook delivery, as getWebhookInfo's last_error_message put it."""
        with self._changed:
            return list(self._state.webhook_errors)

    def _set_webhook(self, params: JSONDict) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)  # an empty url removes the webhook
        parts = urlsplit(url)
        if parts.scheme != "https" or not parts.hostname:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
            )
        if (parts.port or 443) not in WEBHOOK_PORTS:
            raise ApiError(
                HTTPStatus.BAD_REQUEST,
                "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
            )
        secret = params.get("secret_token")
        if secret is not None and not SECRET_TOKEN.fullmatch(str(secret)):
            raise ApiError(
                HTTPStatus.BAD_REQUEST, "Bad Request: secret token contains unallowed characters"
            )
        with self._changed:
            if truthy(params.get("drop_pending_updates")):
                self._state.updates.clear()
            remember_allowed(self._state, params.get("allowed_updates"))
            self._state.webhook = {
                "url": url,
                "secret_token": None if secret is None else str(secret),
                "allowed_updates": params.get("allowed_updates"),
                "max_connections": int(params.get("max_connections") or 40),
            }
            self._state.poll_generation += 1  # a long poll in progress ends with 409
            self._changed.notify_all()
            if self._webhook_thread is None:
                self._webhook_thread = threading.Thread(
                    target=self._deliver_webhooks, name="fake-telegram-webhook", daemon=True
                )
                self._webhook_thread.start()
        return True

    def _delete_webhook(self, params: JSONDict) -> bool:
        with self._changed:
            self._state.webhook = {}
            if truthy(params.get("drop_pending_updates")):
                self._state.updates.clear()
            self._changed.notify_all()
        return True

    def _get_webhook_info(self, _params: JSONDict) -> JSONDict:
        with self._changed:
            hook = self._state.webhook
            info: JSONDict = {
                "url": hook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._state.updates),
            }
            if hook:
                info["max_connections"] = hook["max_connections"]
                if hook.get("allowed_updates"):
                    info["allowed_updates"] = hook["allowed_updates"]
                if "last_error_date" in hook:
                    info["last_error_date"] = hook["last_error_date"]
                    info["last_error_message"] = hook["last_error_message"]
        return info

    def _deliver_webhooks(self) -> None:
        """Telegram's side of a webhook: POST each update in order, with the secret header;
        an update is confirmed by a 2xx answer and retried otherwise."""
        while True:
            with self._changed:
                while True:
                    if self._closing:
                        return
                    hook, target = self._state.webhook, self._webhook_target
                    allowed = hook.get("allowed_updates")
                    ready = [u for u in self._state.updates if is_listed(u, allowed)]
                    if hook and target and ready:
                        break
                    self._changed.wait()
                update = ready[0]
            error = post_update(target + (urlsplit(hook["url"]).path or "/"), update, hook)
            with self._changed:
                if error is None:
                    self._state.updates = [u for u in self._state.updates if u is not update]
                    self._changed.notify_all()
                    continue
                self._state.webhook_errors.append(error)
                if self._state.webhook.get("url") == hook["url"]:
                    self._state.webhook["last_error_date"] = int(time.time())
                    self._state.webhook["last_error_message"] = error
                self._changed.wait(WEBHOOK_RETRY_SECONDS)


def post_update(url: str, update: JSONDict, hook: JSONDict) -> str | None:
    """POST one update as Telegram does; None when answered 2xx, else the error Telegram's
    getWebhookInfo would report."""
    headers = {"Content-Type": "application/json"}
    if hook.get("secret_token"):
        headers[SECRET_HEADER] = hook["secret_token"]
    request = urllib.request.Request(  # noqa: S310 - the URL is the webhook the bot registered
        url, data=json.dumps(update).encode(), headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as exc:
        return f"Wrong response from the webhook: {exc.code} {exc.reason}"
    except (urllib.error.URLError, OSError) as exc:
        return f"Connection failed: {getattr(exc, 'reason', exc)}"
    return None
