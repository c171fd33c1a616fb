"""config/systemd/notify-bot@.service: systemd accepts it, it names each instance, and it
gives the bot's SIGTERM shutdown the time it takes."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli.command import EXIT_USAGE
from bot.config.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "config" / "systemd" / "notify-bot@.service"


def directives(text: str) -> dict[str, list[str]]:
    """Each `Key=value` of a unit file, by key, in order (comments and sections left out)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith(("#", ";", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_systemd_analyze_verify_accepts_the_unit(tmp_path: Path) -> None:
    """On a copy whose ExecStart is this interpreter (the unit's /opt/notify-bot venv does not
    exist here, and verify checks the command), with no warning at all: verify exits 0 on an
    unknown key or a value it cannot parse and only says so."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("needs systemd-analyze (the systemd package) to verify the unit")
    text = UNIT.read_text()
    assert text.count("\nExecStart=") == 1
    real = {"ExecStart": f"{sys.executable} -m bot", "WorkingDirectory": str(ROOT)}
    lines = [
        f"{key}={real[key]}" if (key := line.partition("=")[0]) in real else line
        for line in text.splitlines()
    ]
    (tmp_path / UNIT.name).write_text("\n".join(lines) + "\n")
    result = subprocess.run(
        [analyze, "verify", str(tmp_path / "notify-bot@worker1.service")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    output = (result.stdout + result.stderr).strip()
    assert (result.returncode, output) == (0, ""), output


def test_the_unit_runs_the_bot_as_its_instance_with_its_environment_file() -> None:
    unit = directives(UNIT.read_text())
    assert unit["ExecStart"] == ["/opt/notify-bot/.venv/bin/python -m bot"]
    assert unit["EnvironmentFile"] == ["/etc/notify-bot/%i.env"]
    # The instance name is the consumer name: stable across restarts, unique per instance.
    assert "STREAM_CONSUMER=%i" in unit["Environment"]
    assert unit["Restart"] == ["on-failure"]
    # A configuration error (exit 2) is not retried in a loop.
    assert unit["RestartPreventExitStatus"] == [str(EXIT_USAGE)]
    assert unit["User"] == ["notify-bot"]
    for option, value in (
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
    ):
        assert unit[option] == [value], option


def test_the_unit_waits_for_the_bots_shutdown_before_killing_it() -> None:
    """SIGTERM goes to the bot alone (KillMode=mixed: it closes its parser worker itself), and
    systemd's SIGKILL comes only after SHUTDOWN_TIMEOUT plus the last sends' TELEGRAM_TIMEOUT
    (bot/runtime.py), with room to unwind, at their defaults."""
    unit = directives(UNIT.read_text())
    assert unit.get("KillSignal", ["SIGTERM"]) == ["SIGTERM"]
    assert unit["KillMode"] == ["mixed"]
    fields = Settings.model_fields
    shutdown = float(fields["shutdown_timeout"].default)
    telegram = float(fields["telegram_timeout"].default)
    (stop,) = unit["TimeoutStopSec"]
    assert float(stop) >= shutdown + telegram + 5, (
        f"TimeoutStopSec={stop} leaves the bot's {shutdown} + {telegram} s shutdown no room"
    )
