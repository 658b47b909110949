"""The console channel: the terminal chat, the browser simulator, the outbox sender."""
