"""Logs at INFO carry no message text and no token, over a full conversation in a real process.

`python -m bot` long-polls the fake Bot API with a token set; one user goes through every flow
a user has (and one update fails on purpose, so the error handler's traceback is in the log
too). Then every line of stdout and stderr is scanned for what the user typed and the token.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from tests.e2e.conftest import SENDS
from tests.e2e.test_process import start_process
from tests.fake_telegram import FakeTelegram, FakeUser, Message

USER_ID = 4242
# Part of every update the bot receives: it must stay out of the log as well.
FIRST_NAME = "Zebraquuxina"
# In every free-text question where it does not change what the FAQ matches.
MARKER = "zebraquux"
# Typed texts shorter than this are not scanned for: "6 cm", "yes" or "mon" could turn up in
# an unrelated log word by chance. Commands ("/start") are not scanned for either: they are
# the bot's own vocabulary, not something the user wrote.
MIN_SCANNED = 6


class Conversation:
    """Drive one user's chat in the bot process; remember every text the user typed."""

    def __init__(self, fake: FakeTelegram, user: FakeUser) -> None:
        self.fake, self.user = fake, user
        self.typed: list[str] = []

    def _touched(self, mark: int) -> list[Message]:
        """Bot messages in this chat sent or edited since call number `mark`, as now shown."""
        ids = [
            c.result["message_id"]
            for c in self.fake.calls[mark:]
            if c.method.lower() in SENDS
            and c.ok
            and isinstance(c.result, dict)
            and c.params.get("chat_id") == self.user.chat_id
        ]
        visible = {m.message_id: m for m in self.fake.messages(self.user.chat_id)}
        return [visible[i] for i in dict.fromkeys(ids) if i in visible]

    async def _act(self, action: Callable[[], int], expect: str, timeout: float) -> list[Message]:
        """Do `action`, then wait for its last reply: the one with `expect` in its text or in a
        button's label."""
        mark = len(self.fake.calls)
        update_id = action()

        def replied() -> list[Message] | None:
            touched = self._touched(mark)
            shown = [m.text or "" for m in touched] + [b for m in touched for b in m.button_texts]
            return touched if any(expect in text for text in shown) else None

        return await self.fake.wait_for(
            replied, timeout, f"a reply with {expect!r} to update {update_id}"
        )

    async def send(self, text: str, expect: str, timeout: float = 10) -> list[Message]:
        self.typed.append(text)
        return await self._act(lambda: self.user.send(text), expect, timeout)

    def _with_button(self, label: str) -> Message:
        """The newest bot message with this button (every step waited for its last reply)."""
        messages = self.fake.messages(self.user.chat_id)
        found = [m for m in messages if label in m.button_texts]
        assert found, f"no button {label!r}; last message: {messages[-1].text!r}"
        return found[-1]

    async def press(self, label: str, expect: str) -> list[Message]:
        message = self._with_button(label)
        return await self._act(lambda: self.user.press(message, label), expect, 10)

    async def press_for_toast(self, label: str, toast: str) -> None:
        message = self._with_button(label)
        update_id = self.user.press(message, label)

        def answered() -> bool:
            answer = self.fake.answer_for(update_id)
            return answer is not None and answer.text == toast

        await self.fake.wait_for(answered, 10, f"the toast {toast!r}")

    async def media(self, action: Callable[[], int], expect: str) -> list[Message]:
        return await self._act(action, expect, 10)


async def converse(fake: FakeTelegram, chat: Conversation) -> None:
    """Every flow a user has, each checked by the reply it must produce."""
    # /start and /help; the first wait covers the process starting up.
    await chat.send("/start", f"Hi {FIRST_NAME}!", timeout=30)
    await chat.send("/help", "/assess - measure both ankles")

    # An assessment per leg: a bad distance, /cancel mid-flow, then the whole of it again.
    await chat.send("/assess", "Shall we measure each leg separately")
    await chat.press("Each leg separately", "Left leg: how far is your big toe")
    await chat.send("banana", "I need the distance as a number")
    await chat.send("/cancel", "Assessment cancelled")
    await chat.send("/assess", "Shall we measure each leg separately")
    await chat.press("Each leg separately", "Left leg: how far is your big toe")
    await chat.send("9.5 cm", "did your heel stay flat")
    await chat.press("Yes, heel stayed down", "where did you feel")
    await chat.press("Front of ankle", "Right leg: how far is your big toe")
    await chat.send("6.5 cm", "did your heel stay flat")
    await chat.press("Yes, heel stayed down", "where did you feel")
    replies = await chat.press("Back of calf", "★ Nerve flossing: 20 repetitions")
    result = "\n".join(m.text or "" for m in replies)
    assert "Left leg: 9.5 cm" in result and "Right leg: 6.5 cm" in result

    # A second assessment, both legs the same.
    await chat.send("/assess", "Shall we measure each leg separately")
    await chat.press("Both the same", "Both legs: how far is your big toe")
    await chat.send("7,5 cm", "did your heel stay flat")
    await chat.press("Yes, heel stayed down", "where did you feel")
    replies = await chat.press(
        "Back of ankle (Achilles)", "★ Achilles release (ball): 1-3 minutes per leg"
    )
    assert "Both legs: 7.5 cm" in "\n".join(m.text or "" for m in replies)

    # Daily reminders: a typed city, a typed time, typed days; then look, pause and resume.
    await chat.send("/reminders", "Daily reminders are off")
    await chat.press("Turn on daily reminders", "Which time zone are you in?")
    replies = await chat.send("Lisbon, Portugal", "What time should I remind you")
    assert "Time zone: Europe/Lisbon." in "\n".join(m.text or "" for m in replies)
    await chat.send("7.45pm", "Which days?")
    await chat.send("mondays, wednesdays and fridays", "at 19:45, Mon, Wed, Fri")
    await chat.send("/reminders", "19:45, Mon, Wed, Fri")
    await chat.press("Pause", "Paused.")
    await chat.press("Resume", "Next one:")

    # Free-text questions: answered (then rated), "Did you mean", unmatched, a warning sign.
    replies = await chat.send(
        f"Does it matter that my ankle clicks, {MARKER}?", "as long as it doesn't hurt"
    )
    assert replies[-1].button_texts[-2:] == ["👍 Helpful", "👎 Not helpful"]
    await chat.press_for_toast("👍 Helpful", "Thanks, that helps me improve.")
    await chat.send("tell me about calves please", "Did you mean one of these?")
    await chat.press("Calf stretch on a step", "let both heels sink below it")
    await chat.send(f"{MARKER}: what is the best pizza topping in town?", "I'd rather not guess")
    replies = await chat.send(
        "I heard a pop in my achilles and can't walk", "This could be an Achilles rupture"
    )
    assert replies[-1].buttons == []  # clinician advice only

    # Browsing: the FAQ by topic, the exercise library down to a card.
    await chat.send("/faq", "Doing the routine")
    await chat.press("Doing the routine", "How often should I do them?")
    await chat.press("How often should I do them?", "once a week")
    await chat.send("/exercises", "pick a part of the routine")
    await chat.press("Stretches", "Soleus stretch (bent-knee lunge)")
    await chat.press("Soleus stretch (bent-knee lunge)", "Dose: Hold 30 seconds")

    # What is not text, and a command that does not exist.
    user = chat.user
    await chat.media(user.send_sticker, "I can only read text messages.")
    caption = f"{MARKER} a photo of my swollen ankle from this morning"
    chat.typed.append(caption)
    await chat.media(lambda: user.send_photo(caption=caption), "I can only read text messages.")
    await chat.send("/frobnicate", "I don't know that command")

    # An update that fails (Telegram refuses the reply): the error handler logs a traceback,
    # alerts the admin (this user) and apologises.
    fake.fail("sendMessage", 400, "Bad Request: chat is broken", chat_id=user.chat_id)
    replies = await chat.send(
        f"How often should I do the routine each week, {MARKER}?",
        "Sorry, something went wrong on my side",
    )
    assert any("failed with BadRequest" in (m.text or "") for m in replies)

    # Progress, export, admin stats, and forgetting everything.
    replies = await chat.send("/progress", "measurement noise")
    assert "Knee-to-wall tests" in "\n".join(m.text or "" for m in replies)
    assert any(m.photo for m in replies)
    replies = await chat.send("/export", "Everything I have stored about you")
    assert [m.document_name for m in replies if m.document] == ["ankle-bot-data.json"]
    replies = await chat.send("/stats", "Active reminders: 1")
    assert "Assessments: 2" in replies[-1].text  # type: ignore[operator]
    await chat.send("/forget", "Delete everything I have stored about you?")
    await chat.press("Yes, delete it all", "everything about you is deleted")


async def test_a_full_conversation_leaves_no_text_and_no_token_in_the_log(
    fake: FakeTelegram, database_url: str
) -> None:
    user = fake.user(USER_ID, FIRST_NAME)
    chat = Conversation(fake, user)
    process = await start_process(fake, database_url, ADMIN_USER_IDS=str(USER_ID))
    try:
        await converse(fake, chat)
        await fake.settle(quiet=0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(process.communicate(), 30)
    lines = (out.decode() + err.decode()).splitlines()
    log = "\n".join(lines)
    assert process.returncode == 0, log

    # The scan is not vacuous: INFO lines, and the failed update's traceback, were written.
    assert any(" INFO bot: bot started (long polling)" in line for line in lines), log
    assert any(" INFO bot: bot stopped" in line for line in lines), log
    assert any(" ERROR " in line and "error while handling update" in line for line in lines)
    assert "Traceback (most recent call last)" in log and "BadRequest" in log

    secret = fake.token.split(":", 1)[1]
    scanned = sorted(
        {t for t in chat.typed if not t.startswith("/") and len(t) >= MIN_SCANNED}, key=len
    )
    assert len(scanned) >= 12, scanned  # the rule above left the conversation's texts in
    forbidden = [fake.token, secret, MARKER, FIRST_NAME, *scanned]
    leaks = [
        (number, word, line)
        for number, line in enumerate(lines, 1)
        for word in forbidden
        if word.lower() in line.lower()
    ]
    assert leaks == [], "\n".join(f"line {n} has {w!r}: {line}" for n, w, line in leaks)
