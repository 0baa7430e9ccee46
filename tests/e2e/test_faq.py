"""Free-text questions end to end: answers, "Did you mean", fallback, warning signs, feedback."""

from __future__ import annotations

import asyncio
import re
import sys
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from bot.knowledge import Knowledge
from bot.services import Services
from bot.storage.curation import FaqLog, Review
from bot.storage.repository import Repository
from tests.e2e.conftest import TEST_REMINDERS, FakeClock, RunningBot, start_bot, stop_bot
from tests.fake_telegram import FakeTelegram

DOSE = re.compile(r"\b\d+\s*(seconds?|s|minutes?|times|reps|repetitions|circles)\b", re.I)


async def test_a_question_gets_its_answer_with_cards_and_feedback(bot: RunningBot) -> None:
    chat = bot.chat()
    turn = await chat.send("Does it matter that my ankle clicks?")
    [answer] = turn.messages
    assert "as long as it doesn't hurt" in (answer.text or "")
    assert answer.button_texts[0] == "Card: Ankle circles"
    assert answer.button_texts[-2:] == ["👍 Helpful", "👎 Not helpful"]
    card = await chat.press("Card: Ankle circles", answer)
    assert "Dose: 20 circles in each direction" in card.text
    turn = await chat.press("👍 Helpful", answer)
    assert turn.toast == "Thanks, that helps me improve."
    assert "👍 Helpful" not in turn.last.button_texts  # one vote per answer
    helpful = answer.buttons[-1][0][1] or ""
    again = await chat.press_data(answer.message_id, helpful)  # a double tap's second press
    assert again.toast == "Thanks, that helps me improve."
    review = await bot.services.faq_log.review()
    assert review.feedback == [("clicking", 1, 0)]


@pytest.mark.parametrize(
    ("asked", "fact"),
    [
        ("how many times a week should I do these", "once a week"),
        ("how long until it's fixed?", "Everyone is different"),
        ("how do I do the soleus stretch", "30 seconds"),
        ("can i walk on my heels to train dorsiflexion", "dorsiflexion"),
    ],
)
async def test_everyday_questions(bot: RunningBot, asked: str, fact: str) -> None:
    turn = await bot.chat().send(asked)
    assert fact.lower() in turn.text.lower()


async def test_did_you_mean_leads_to_the_answer_and_teaches_the_curator(
    bot: RunningBot, knowledge: Knowledge
) -> None:
    chat = bot.chat()
    turn = await chat.send("calf")
    prompt = turn.last
    assert "Did you mean one of these?" in (prompt.text or "")
    assert 2 <= len(prompt.button_texts) <= 4 and prompt.button_texts[-1] == "None of these"
    choice = prompt.button_texts[0]
    entry = next(e for e in knowledge.faq.entries if e.title == choice)
    turn = await chat.press(choice, prompt)
    assert turn.messages[0].buttons == []  # the question is closed
    assert (turn.last.text or "") in entry.answer.replace("<b>", "").replace("</b>", "")
    again = await chat.press_data(prompt.message_id, prompt.buttons[0][0][1] or "")
    assert again.toast == "That button belongs to an older message." and again.messages == []
    review = await bot.services.faq_log.review()
    assert ("calf", entry.id, 1) in review.confirmed


async def test_another_user_cannot_answer_someone_elses_did_you_mean(bot: RunningBot) -> None:
    """The buttons carry the event id and a nonce: a guessed id alone is refused."""
    victim, forger = bot.chat(), bot.chat(43, "Eve")
    prompt = (await victim.send("calf")).last
    data = prompt.buttons[0][0][1] or ""
    _, _, ticket, entry = data.split(":")
    event_id, nonce = ticket.split(".")
    mine = (await forger.send("/faq")).last
    for forged in (f"faq:pick:{event_id}:{entry}", f"faq:pick:{event_id}.00000000:{entry}"):
        turn = await forger.press_data(mine.message_id, forged)
        assert turn.toast == "That button belongs to an older message.", forged
    turn = await victim.press(prompt.button_texts[0], prompt)  # still the victim's to answer
    assert turn.messages[0].buttons == []
    assert len(nonce) == 8


async def test_none_of_these_and_out_of_scope_get_the_fallback(bot: RunningBot) -> None:
    chat = bot.chat()
    prompt = (await chat.send("calf")).last
    turn = await chat.press("None of these", prompt)
    assert "I'd rather not guess" in turn.text and "/faq" in turn.text
    turn = await chat.send("what's the best pizza in town?")
    assert "I'd rather not guess" in turn.text
    # topic words of the "how often" entry, about another muscle (knowledge/out_of_scope.toml)
    turn = await chat.send("How often should I stretch my hamstrings?")
    assert "I'd rather not guess" in turn.text and "every day" not in turn.text
    review = await bot.services.faq_log.review()
    assert sorted(review.unmatched) == [
        ("How often should I stretch my hamstrings?", 1),
        ("calf", 1),
        ("what's the best pizza in town?", 1),
    ]


@pytest.mark.parametrize(
    ("message", "urgent"),
    [
        ("I felt a pop in my achilles playing squash, which stretch should I do?", "today"),
        ("my calf is swollen red and hot since the flight", "today"),
        ("fell off my bike, can't put weight on the ankle and it looks deformed", "urgent"),
        ("I get tingling and numbness in my foot during nerve flossing", "clinician"),
        ("had ankle surgery 3 weeks ago, can I start these exercises?", "team"),
        ("sharp pain in the front of my ankle when I lunge", "physiotherapist"),
    ],
)
async def test_warning_signs_get_clinician_advice_and_no_exercises(
    bot: RunningBot, message: str, urgent: str
) -> None:
    turn = await bot.chat().send(message)
    [reply] = turn.messages
    text = reply.text or ""
    assert urgent.lower() in text.lower() or "doctor" in text.lower()
    assert reply.buttons == []
    assert not DOSE.search(text), text
    assert not any(name.lower() in text.lower() for name in ("ankle circles", "nerve flossing x"))
    review = await bot.services.faq_log.review()
    assert review.unmatched == [] and review.confirmed == []  # health details are not kept


async def test_how_long_since_a_month_counts_from_the_day_the_message_was_sent(
    bot: RunningBot,
) -> None:
    """Three months of no change is a reason to get checked; one month is not."""
    message = "Done the routine every day since early September and still no change. Why?"
    december = await bot.chat(1).send(message, sent_at=datetime(2026, 12, 2, 9, tzinfo=UTC))
    october = await bot.chat(2).send(message, sent_at=datetime(2026, 10, 2, 9, tzinfo=UTC))
    assert "assessed" in december.texts[0], december.texts
    assert "assessed" not in october.texts[0], october.texts


async def test_browse_by_topic(bot: RunningBot, knowledge: Knowledge) -> None:
    chat = bot.chat()
    topics = (await chat.send("/faq")).last
    assert topics.button_texts == [t.title for t in knowledge.faq.topics]
    turn = await chat.press("Doing the routine", topics)
    assert "How often should I do them?" in turn.last.button_texts
    turn = await chat.press("How often should I do them?")
    assert "once a week" in turn.text
    turn = await chat.press("All topics", topics)
    assert turn.last.button_texts == [t.title for t in knowledge.faq.topics]


async def test_forged_faq_buttons(bot: RunningBot) -> None:
    chat = bot.chat()
    topics = (await chat.send("/faq")).last
    for data in ("faq:pick:999999:how-often", "faq:e:nope", "faq:fb:nope:y", "faq:t:nope", "faq:x"):
        turn = await chat.press_data(topics.message_id, data)
        assert turn.toast == "That button belongs to an older message.", data


async def test_a_huge_message_is_answered(bot: RunningBot) -> None:
    turn = await bot.chat().send(("how often should I stretch my calves " * 200)[:4096])
    assert len(turn.messages) == 1 and turn.text


async def test_faq_review_lists_what_was_missed(bot: RunningBot, database_url: str) -> None:
    chat = bot.chat()
    await chat.send("what's the best pizza in town?")
    await chat.send("what's the best pizza in town?")
    await chat.send("can I do yoga instead")
    env = {"DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "faq",
        "review",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert "    2  what's the best pizza in town?" in text
    assert "Ann" not in text and "42" not in text  # no user identity


async def test_control_characters_are_kept_out_of_the_curators_log(bot: RunningBot) -> None:
    """PostgreSQL refuses NUL in text; the fuzz test found it crashing an unmatched question."""
    turn = await bot.chat().send("pizza\x00 with\x07 pineapple?")
    assert "I'd rather not guess" in turn.text
    review = await bot.services.faq_log.review()
    assert review.unmatched == [("pizza with pineapple?", 1)]


async def test_questions_queued_for_curators_are_written_at_shutdown(
    fake: FakeTelegram, repo: Repository, knowledge: Knowledge, clock: FakeClock
) -> None:
    """Events are batched off the reply path; stopping the bot must not lose the last ones."""
    services = Services.on(repo.engine, knowledge, TEST_REMINDERS, clock)
    hour_long_batches = replace(services, faq_log=FaqLog(repo.engine, delay=3600))
    app = await start_bot(fake, hour_long_batches)
    await RunningBot(fake, app, repo, clock).chat().send("what's the best pizza in town?")
    assert await FaqLog(repo.engine).review() == Review([], [], [])  # not written yet
    await stop_bot(app)
    review = await FaqLog(repo.engine).review()
    assert review.unmatched == [("what's the best pizza in town?", 1)]
