"""`python -m bot bench`: the bot beside the floor (bare_sender.py) and the tutorials' loop
(blog_loop.py), measured alike (head_to_head.py) with what the bench publishes (traffic.py),
then the bot under Telegram's limits (under_limits.py), against a Redis and an emulator of its
own (run.py), in parts: a notification's life (lifecycle.py), preferences, templates
(templated.py), chats, several instances; the table (report.py); the goals (goals.py); what
every part uses (kit.py)."""
