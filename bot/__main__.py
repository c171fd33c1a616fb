"""`python -m bot`: the command line."""

import sys
from importlib.util import find_spec

# What the bot itself needs beyond the publisher's few: `pip install notify-bot` is a web app's
# install (bot.publisher only), `pip install 'notify-bot[bot]'` the bot's.
RUNTIME = {
    "telegram": "python-telegram-bot",
    "pydantic_settings": "pydantic-settings",
    "structlog": "structlog",
    "httpx_aiohttp": "httpx-aiohttp",
    "aiohttp": "aiohttp",
    "prometheus_client": "prometheus-client",
    "regex": "regex",
    "babel": "Babel",
}

# Guarded: the parser's worker process (spawned) imports the main module again.
if __name__ == "__main__":
    missing = [package for module, package in RUNTIME.items() if find_spec(module) is None]
    if missing:
        sys.stderr.write(
            f"python -m bot needs the bot's dependencies ({', '.join(missing)} missing): "
            "pip install 'notify-bot[bot]'\n"
        )
        raise SystemExit(2)
    from bot.cli import main

    raise SystemExit(main())
