"""The command a newcomer runs: console mode through stdin, and bad configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ASSESSMENT = [
    "/start",
    "1",  # Start the assessment
    "2",  # Both the same
    "about six",  # not a number: re-asked
    "6,5",
    "1",  # heel stayed down
    "3",  # back of calf
]


def run_bot(
    tmp_path: Path, lines: list[str], *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DATABASE_"))
    }
    environment |= {"DATABASE_URL": f"sqlite:///{tmp_path / 'console.db'}", **env}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=60,
        env=environment,
        cwd=tmp_path,
    )


def test_a_whole_assessment_typed_into_the_console(tmp_path: Path) -> None:
    done = run_bot(tmp_path, ASSESSMENT)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "console mode" in out
    assert "I need the distance as a number" in out
    assert "Both legs: 6.5 cm" in out
    assert "Most likely holding you back: the calf muscles or nerve tension" in out
    assert "★ Gastrocnemius stretch (on a step): Hold at least 30 seconds, 3 times" in out
    assert "<b>" not in out  # HTML is shown as plain text
    assert done.stderr == ""


def test_the_console_remembers_an_unfinished_assessment(tmp_path: Path) -> None:
    first = run_bot(tmp_path, ASSESSMENT[:4])
    assert first.returncode == 0, first.stderr
    again = run_bot(tmp_path, ["7"])
    assert "Both legs: did your heel stay flat" in again.stdout


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TELEGRAM_BOT_TOKEN": "not-a-token"}, "TELEGRAM_BOT_TOKEN does not look like"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL must start with"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
        ({"TELEGRAM_API_BASE_URL": "ftp://x"}, "TELEGRAM_API_BASE_URL must be an http"),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    done = run_bot(tmp_path, [], **env)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and message in done.stderr


def test_a_database_that_cannot_be_opened_is_one_line_and_exit_2(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nobody:secret@127.0.0.1:1/nowhere"
    done = run_bot(tmp_path, [], DATABASE_URL=url)
    assert done.returncode == 2
    assert "cannot open the database" in done.stderr and "secret" not in done.stderr


def test_broken_knowledge_stops_start_up_naming_file_and_entry(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(Path(__file__).parent.parent / "knowledge", knowledge)
    exercises = knowledge / "exercises.toml"
    exercises.write_text(exercises.read_text().replace('dose = "30 repetitions"', 'dose = ""'))
    done = run_bot(tmp_path, [], KNOWLEDGE_DIR=str(knowledge))
    assert done.returncode == 2
    assert "exercises.toml: exercise 'banded-mobilisation': 'dose'" in done.stderr


def test_check_names_each_problem_and_passes_once_all_is_well(tmp_path: Path) -> None:
    fresh = run_bot(tmp_path, [], "check")
    assert fresh.returncode == 1
    assert "PROBLEM  database: schema at nothing, code needs" in fresh.stderr
    assert "ok       knowledge:" in fresh.stdout
    run_bot(tmp_path, [])  # a start migrates
    ready = run_bot(tmp_path, [], "check")
    assert ready.returncode == 0, ready.stderr
    assert "schema at head" in ready.stdout
    broken = run_bot(
        tmp_path,
        [],
        "check",
        TELEGRAM_BOT_TOKEN="nope",
        KNOWLEDGE_DIR=str(tmp_path / "missing"),
    )
    assert broken.returncode == 1
    assert broken.stderr.count("PROBLEM") == 2
    assert "assessment.toml: file not found" in broken.stderr
    assert "TELEGRAM_BOT_TOKEN does not look like a bot token" in broken.stderr
