"""Commands that bring their own Redis and Telegram: bench, blog loop, demo."""
