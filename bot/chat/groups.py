"""python-telegram-bot's handler groups, in the order they see an update (in one group only the
first handler that matches runs; a later group runs unless an earlier raised
ApplicationHandlerStop). One place, since each number means something only beside the others."""

from __future__ import annotations

# Telegram's language for the user, noted first: a user over their budget still tells it.
TELEGRAM_LANGUAGE = -4
# Link tokens posted where many can read them are used up before the budget can drop them.
SEEN_TOKENS = -3
# The message budget: an over-budget update goes no further.
BUDGET = -2
# A reply or a reaction to a notification is taken here; a reply goes no further (the
# commands' catch-all would answer it with a pointer to /help).
FEEDBACK = -1
# The commands, the buttons, linking and the catch-all (python-telegram-bot's default group).
COMMANDS = 0
