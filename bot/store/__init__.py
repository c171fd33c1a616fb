"""Redis-backed state: client factory, chat registry, counters, dead letters."""
