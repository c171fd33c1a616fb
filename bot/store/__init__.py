"""Redis-backed state, one module per kind of data with its keys, and plans that run on a
blocking or an asyncio client alike."""
