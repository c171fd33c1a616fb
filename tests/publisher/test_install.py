"""What a web app gets from a plain `pip install` of the package: the publisher and nothing of
the bot's runtime, beside a Django project's own `config` package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_a_web_app_installs_the_publisher_alone_beside_its_own_config_package(
    tmp_path: Path,
) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = [str(venv / "bin" / "pip"), "install", "-q", "--no-cache-dir", str(ROOT)]
    subprocess.run(install, check=True, capture_output=True, timeout=300)
    shop = tmp_path / "shop"  # cookiecutter-django keeps its settings in `config`
    (shop / "config").mkdir(parents=True)
    (shop / "config" / "__init__.py").write_text("")
    (shop / "config" / "settings.py").write_text("DJANGO = True\n")
    python = str(venv / "bin" / "python")
    code = (
        "import importlib.util, config.settings; "
        "from bot.publisher import AsyncPublisher, Button, Publisher; "
        "print(config.settings.DJANGO, [name for name in "
        "('telegram', 'aiohttp', 'httpx', 'babel', 'structlog', 'pydantic_settings') "
        "if importlib.util.find_spec(name)])"
    )
    both = subprocess.run(
        [python, "-c", code], cwd=shop, capture_output=True, text=True, timeout=60, check=False
    )
    assert (both.returncode, both.stdout.strip()) == (0, "True []"), both.stderr

    bot = subprocess.run(
        [python, "-m", "bot", "--version"],
        cwd=shop,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bot.returncode == 2
    assert bot.stderr.count("\n") == 1  # one line, no traceback
    assert "pip install 'notify-bot[bot]'" in bot.stderr
