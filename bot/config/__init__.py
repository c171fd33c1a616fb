"""How the process is configured: settings from the environment and logging set-up."""
