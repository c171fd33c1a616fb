"""The operator's localized templates (TEMPLATES_DIR): read and checked at start-up, rendered
per reader in a bounded sandbox; no I/O after loading."""
