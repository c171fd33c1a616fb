"""What a chat shows for a notification's message: HTML or Markdown turned into plain text plus
Telegram entities (UTF-16 offsets), and long text cut into Telegram-sized parts. No I/O."""
