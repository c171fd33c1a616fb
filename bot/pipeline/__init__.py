"""Between sources and Telegram: per-user lanes, and settling each outcome."""
