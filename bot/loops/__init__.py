"""Loop and concurrency helpers that every long-lived part uses (below all of them): backoff,
outages and reconnecting (reconnect.py), turns by priority (turns.py)."""
