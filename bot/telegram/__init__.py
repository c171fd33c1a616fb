"""Telegram out: delivery and its error policy, composing calls, pacing, transport, updates."""

import os

# python-telegram-bot 22 deprecates int durations and warns on every access to one, even while
# it builds a RetryAfter, unless the process opts in to timedelta values first. The opt-in is
# made here, where the bot's use of Telegram starts, and not in `bot/__init__.py`: a web app
# that imports only `bot.publisher` keeps its environment as it was.
os.environ.setdefault("PTB_TIMEDELTA", "true")
