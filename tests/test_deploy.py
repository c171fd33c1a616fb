"""What a Heroku-style platform reads: Procfile, requirements.txt, .python-version, app.json;
and the process it starts binds PORT and answers /healthz."""

from __future__ import annotations

import json
import re
import socket
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from bot.config.settings import Settings
from bot.testing import DEFAULT_TOKEN, FakeTelegram
from tests.bots import BotProcess, process_env
from tests.waiting import until

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_SET = {"REDIS_URL", "PORT"}  # the Redis add-on and the platform set these


def project() -> dict[str, Any]:
    with (ROOT / "pyproject.toml").open("rb") as file:
        return tomllib.load(file)["project"]  # type: ignore[no-any-return]


def test_the_procfile_runs_the_bot_as_worker_and_as_web() -> None:
    lines = (ROOT / "Procfile").read_text().splitlines()
    assert "worker: python -m bot" in lines
    assert "web: python -m bot" in lines


def test_requirements_pin_every_dependency_within_pyprojects_ranges() -> None:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not pinned: {line}"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    # The web app's (the base) and the bot's own ([bot]): the buildpack runs the bot.
    needed = [*project()["dependencies"], *project()["optional-dependencies"]["bot"]]
    for spec in needed:
        requirement = Requirement(spec)
        name = re.sub(r"[-_.]+", "-", requirement.name).lower()
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.txt"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} vs {spec}"


def test_python_version_is_pinned_the_way_the_buildpack_reads_it() -> None:
    version = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(r"3\.\d+", version), "major version form, e.g. 3.11"
    assert SpecifierSet(str(project()["requires-python"])).contains(f"{version}.0")
    assert version == f"{sys.version_info.major}.{sys.version_info.minor}", "the one CI tests"


def test_app_json_describes_every_setting_and_its_values_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app = json.loads((ROOT / "app.json").read_text())
    assert [addon["plan"] for addon in app["addons"]] == ["heroku-redis:mini"]
    assert app["formation"]["worker"]["quantity"] == 1
    env = app["env"]
    names = {name.upper() for name in Settings.model_fields}
    assert set(env) == names - PLATFORM_SET
    assert all(entry["description"].strip() for entry in env.values())
    assert [name for name, entry in env.items() if entry["required"]] == ["BOT_TOKEN"]

    # What a one-click deploy sets (blank where no value is given) is a valid configuration,
    # the same as the defaults except where Heroku needs otherwise.
    for name in (*names, "DYNO"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_TOKEN", DEFAULT_TOKEN)
    defaults = Settings(_env_file=None)
    for name, entry in env.items():
        monkeypatch.setenv(name, str(entry.get("value", "")))
    monkeypatch.setenv("BOT_TOKEN", DEFAULT_TOKEN)
    deployed = Settings(_env_file=None)
    differs = {
        name for name in Settings.model_fields if getattr(deployed, name) != getattr(defaults, name)
    }
    assert differs == {"redis_ssl_cert_reqs", "log_format"}
    assert env["WEBHOOK_SECRET"]["generator"] == "secret"


@pytest.mark.usefixtures("redis_client")  # empties the database: no other test bot's claim on it
def test_a_web_process_without_a_webhook_polls_and_answers_healthz_on_port(
    telegram: FakeTelegram, redis_url: str, channel: str, tmp_path: Path
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = process_env(telegram, redis_url, channel, PORT=str(port), HTTP_HOST="127.0.0.1")
    env["DYNO"] = "web.1"
    bot = BotProcess("web.1", env, tmp_path, named=False)
    try:
        health: dict[str, Any] = {}
        until(lambda: _healthy(port, health), "/healthz ok on PORT", within=20)
        assert health["mode"] == "polling"
        assert health["role"] == "leader"
        telegram.wait_for_call("getUpdates")
        bot.wait_ready(10)
        code = bot.stop()
    finally:
        bot.kill()
    assert code == 0
    out = bot.output()
    events = [json.loads(line)["event"] for line in out.splitlines()]  # JSON, one per line
    assert "http_listening" in events
    assert events.index("http_listening") < events.index("bot_ready")
    assert telegram.token not in out


def _healthy(port: int, into: dict[str, Any]) -> bool:
    """True once /healthz on `port` says ok with a role (its body then in `into`)."""
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
    except httpx.HTTPError:
        return False
    body = response.json()
    into.update(body)
    return response.status_code == 200 and body["role"] != "starting" and body["status"] == "ok"
