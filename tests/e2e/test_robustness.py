"""Groups, channels, floods, failures and admins: nothing knocks the bot over."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bot.knowledge import Knowledge
from bot.services import Services
from bot.storage.repository import Repository
from tests.e2e.conftest import TEST_REMINDERS, FakeClock, RunningBot, start_bot, stop_bot
from tests.fake_telegram import FakeTelegram

ADMIN = 99


@pytest.fixture
async def admin_bot(
    fake: FakeTelegram, repo: Repository, knowledge: Knowledge, clock: FakeClock
) -> AsyncIterator[RunningBot]:
    services = Services.on(repo.engine, knowledge, TEST_REMINDERS, clock, admins=frozenset({ADMIN}))
    app = await start_bot(fake, services)
    yield RunningBot(fake, app, repo, clock)
    await stop_bot(app)


async def test_in_a_group_only_what_is_addressed_to_the_bot_is_answered(
    bot: RunningBot,
) -> None:
    bot.fake.privacy_mode = False  # the bot sees everything, and must still stay quiet
    member = bot.fake.user(7, "Cy", chat_id=-100, chat_type="group")
    chat = bot.chat(7)
    chat.user = member
    assert (await chat.send("how often should I stretch?")).messages == []
    assert (await chat.send("/start@some_other_bot")).messages == []
    for text in ("/start@ankle_test_bot", "/assess", "@ankle_test_bot what do you do?"):
        [reply] = (await chat.send(text)).messages
        assert "Open a private chat" in reply.button_texts, text
        assert reply.buttons[0][0][1] == "https://t.me/ankle_test_bot"
    turn = await chat._turn(member.send("thanks", reply_to=reply.message_id))
    assert len(turn.messages) == 1
    assert await bot.repo.get_draft(7) is None  # no assessment started in the group


async def test_channel_posts_inline_queries_and_edits_are_ignored_safely(
    bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot.fake.add_chat(-200, "channel", title="News")
    chat = bot.chat()
    await chat.send("/start")
    mine = [m for m in bot.fake.messages(42, include_user=True) if not m.from_bot][-1]
    updates = [
        bot.fake.push_update(
            {
                "channel_post": {
                    "message_id": 1,
                    "date": 0,
                    "chat": {"id": -200, "type": "channel", "title": "News"},
                    "text": "/start",
                }
            }
        ),
        bot.fake.push_update(
            {
                "inline_query": {
                    "id": "1",
                    "from": {"id": 42, "is_bot": False, "first_name": "Ann"},
                    "query": "ankle",
                    "offset": "",
                }
            }
        ),
        chat.user.edit(mine.message_id, "edited text"),
    ]
    for update_id in updates:
        await bot.fake.wait_confirmed(update_id)
    await bot.app.update_queue.join()
    await bot.fake.settle(quiet=0.1)
    assert [c for c in bot.fake.calls if c.params.get("chat_id") == -200] == []
    assert "error while handling update" not in caplog.text


async def test_one_user_flooding_does_not_hold_up_another(bot: RunningBot) -> None:
    flooder, other = bot.fake.user(7, "Flo"), bot.chat(8, "Ola")
    for n in range(100):
        flooder.send(f"how often should I stretch {n}")
    turn = await other.send("/start")
    assert "Hi Ola!" in turn.text
    replies_to_flooder_before = len(bot.fake.messages(7))
    assert replies_to_flooder_before < 100
    await bot.fake.settle(quiet=0.3, timeout=30)
    answered = len(bot.fake.messages(7))
    assert 0 < answered < 100  # the excess was dropped, not queued for minutes


async def test_a_failure_gets_an_apology_and_one_admin_alert(
    admin_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = admin_bot
    bot.fake.user(ADMIN, "Admin")
    chat = bot.chat()
    bot.fake.fail("sendMessage", 400, "Bad Request: chat is broken", chat_id=42)
    turn = await chat.send("/help")
    assert "Sorry, something went wrong on my side" in turn.text
    alerts = bot.fake.messages(ADMIN)
    assert len(alerts) == 1 and "failed with BadRequest" in (alerts[0].text or "")
    assert "error while handling update" in caplog.text and "Traceback" in caplog.text
    bot.fake.fail("sendMessage", 400, "Bad Request: chat is broken", chat_id=42)
    await chat.send("/help")
    await asyncio.sleep(0)
    assert len(bot.fake.messages(ADMIN)) == 1  # rate-limited


async def test_stats_for_admins_only(admin_bot: RunningBot) -> None:
    bot = admin_bot
    user, admin = bot.chat(), bot.chat(ADMIN, "Admin")
    await user.send("what's the best pizza in town?")
    await user.send("/assess")
    await user.press("Both the same")
    await user.send("7")
    await user.press("Yes, heel stayed down")
    await user.press("Front of ankle")
    assert "I don't know that command" in (await user.send("/stats")).text
    text = (await admin.send("/stats")).text
    assert "People: 1" in text and "Assessments: 1" in text and "Active reminders: 0" in text
    assert "0 sent, 0 failed, 0 blocked" in text
    assert "1x what's the best pizza in town?" in text


async def test_a_button_whose_handler_fails_is_still_answered(bot: RunningBot) -> None:
    """The error handler apologises and stops the button's spinner."""
    chat = bot.chat()
    answer = (await chat.send("how often should I do the exercises?")).last
    bot.fake.fail("answerCallbackQuery", 400, "Bad Request: something broke")
    turn = await chat.press("👍 Helpful", answer)
    assert "Sorry, something went wrong on my side" in turn.text
    failed, retried = bot.fake.calls_to("answerCallbackQuery")[-2:]
    assert not failed.ok and retried.ok
    assert bot.fake.callback_answers[-1].query_id == retried.params["callback_query_id"]
