"""Redis in: the pub/sub listener, the stream consumer, and the one reconnect loop."""
