"""What instances sharing one Redis agree on: the leader lock, and what its holder does."""
