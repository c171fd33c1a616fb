"""`python -m bot`: the command line."""

import sys

# What the bot itself needs beyond the publisher's few: `pip install notify-bot` is a web app's
# install (bot.publisher only), `pip install 'notify-bot[bot]'` the bot's. Import name: package.
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
    try:
        from bot.cli import main

        code = main()
    # Caught, not looked for at start: at the import or at a command's lazy one.
    except ModuleNotFoundError as exc:
        missing = RUNTIME.get((exc.name or "").partition(".")[0])
        if missing is None:
            raise
        sys.stderr.write(
            f"python -m bot needs the bot's dependencies ({missing} missing): "
            "pip install 'notify-bot[bot]'\n"
        )
        code = 2
    raise SystemExit(code)
