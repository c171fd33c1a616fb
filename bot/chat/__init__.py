"""What people type to the bot: user commands, admin commands, menus, broadcasts."""
