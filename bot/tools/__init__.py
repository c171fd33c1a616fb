"""Commands that bring their own Redis and Telegram: the bench, the demo, the emulator's console."""
