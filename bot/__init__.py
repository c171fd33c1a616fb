"""Notify Bot: delivers notifications published on Redis as Telegram chat messages."""

import os

__version__ = "0.1.0"

# python-telegram-bot 22 deprecates int durations (RetryAfter.retry_after and friends) and warns on
# every access unless this opt-in to timedelta values is set before it is used.
os.environ.setdefault("PTB_TIMEDELTA", "true")
