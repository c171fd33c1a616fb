"""Notify Bot: delivers notifications published on Redis as Telegram chat messages."""

__version__ = "0.1.0"
