"""`python -m bot`: the command line."""

from bot.cli import main

# Guarded: the parser's worker process (spawned) imports the main module again.
if __name__ == "__main__":
    raise SystemExit(main())
