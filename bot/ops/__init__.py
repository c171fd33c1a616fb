"""What operators see: HTTP (/healthz, /metrics, webhook), health, metrics, check."""
