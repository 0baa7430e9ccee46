"""Ankle bot: a Telegram assistant for stiff ankles."""

import os

# Opt in to PTB's coming behaviour (durations as timedelta) instead of deprecation warnings.
os.environ.setdefault("PTB_TIMEDELTA", "true")
