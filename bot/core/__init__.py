"""The pure core: assessment rules, programme building. Knows nothing of Telegram or storage."""
