"""The console chat and terminal rendering: the bot without Slack, in a terminal."""
