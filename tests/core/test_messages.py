"""Every wording the code asks for by a computed key exists in messages.toml."""

from __future__ import annotations

from bot.app import COMMANDS
from bot.core.distance import DistanceError
from bot.core.schedule import TimeError
from bot.knowledge import Knowledge


def test_computed_message_keys_exist(knowledge: Knowledge) -> None:
    keys = [
        *(f"distance_{e.value}" for e in DistanceError),
        *(f"bad_time_{e.value}" for e in TimeError),
        *(f"command_{name}" for name in COMMANDS),
        *(f"progress_leg_{leg}" for leg in ("left", "right", "both")),
        *(f"progress_change_{t}" for t in ("better", "worse", "noise")),
    ]
    missing = [key for key in keys if key not in knowledge.text]
    assert missing == []
