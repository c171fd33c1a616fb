"""Redis in: the pub/sub listener, the stream consumers, what the schedule says is due."""
