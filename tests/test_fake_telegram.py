"""The fake Bot API must behave like Telegram towards the real PTB stack.

Every test runs the real echo bot (long polling) or the real ``telegram.Bot`` against the fake,
so a passing suite means PTB accepts the fake's answers and raises the same exceptions it would
raise against api.telegram.org.
"""

from __future__ import annotations

import asyncio
import datetime as dtm
import time
from collections.abc import AsyncIterator

import pytest
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, EndPointNotFound, Forbidden, InvalidToken, RetryAfter
from telegram.ext import Application

from tests.echo_bot import DOCS_URL, build_echo_application
from tests.fake_telegram import BOT_USERNAME, DEFAULT_TOKEN, FakeTelegram

ANN = 42


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


async def start_polling(app: Application) -> None:
    """Start an Application the way run_polling does, but inside the test's event loop."""
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=5))


async def stop_polling(app: Application) -> None:
    assert app.updater is not None
    await app.updater.stop()
    await app.stop()
    await app.shutdown()


@pytest.fixture
async def echo_app(fake: FakeTelegram) -> AsyncIterator[Application]:
    app = build_echo_application(fake.base_url, fake.token)
    await start_polling(app)
    yield app
    await stop_polling(app)
    assert fake.internal_errors == []


async def test_default_token_looks_real_and_get_me_deserialises(echo_app: Application) -> None:
    """PTB's initialize() calls getMe: the result must de-json into a proper bot User."""
    bot_id, secret = DEFAULT_TOKEN.split(":")
    assert bot_id.isdigit() and len(secret) == 35
    assert echo_app.bot.username == BOT_USERNAME
    assert echo_app.bot.id == int(bot_id)
    assert echo_app.bot.bot.is_bot and echo_app.bot.bot.can_join_groups


async def test_text_is_echoed(fake: FakeTelegram, echo_app: Application) -> None:
    """The basic loop: update queued, long poll hands it over, handler answers."""
    ann = fake.user(ANN)
    update_id = ann.send("hello <world> & co")
    await fake.wait_delivered(update_id)
    [reply] = await fake.wait_messages(ANN, 1)
    assert reply.text == "hello <world> & co"
    assert reply.from_bot and reply.kind == "text" and reply.parse_mode is None
    [call] = fake.calls_to("sendMessage")
    assert call.params["chat_id"] == ANN  # form value "42" decoded back to an int
    assert call.status == 200
    assert echo_app.bot_data.get("errors") is None


async def test_start_command_keyboard_and_button_round_trip(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """Command entity -> CommandHandler; button press -> answer + edit of the same message."""
    ann = fake.user(ANN, "Ann <&> Bob")
    ann.send("/start")
    [greeting] = await fake.wait_messages(ANN, 1)
    # The name was HTML-escaped by the bot, and the fake decoded it as Telegram does.
    assert greeting.text == "Hello, Ann <&> Bob!"
    assert greeting.parse_mode == "HTML"
    assert greeting.entities == [{"type": "bold", "offset": 7, "length": 11}]
    assert greeting.buttons == [[("Ping", "ping"), ("Docs", DOCS_URL)]]
    markup = fake.calls_to("sendMessage")[0].params["reply_markup"]
    assert markup["inline_keyboard"][0][0]["callback_data"] == "ping"  # JSON field decoded

    press = ann.press(greeting, "Ping")
    answer = await fake.wait_for(lambda: fake.answer_for(press))
    assert answer.text == "pong" and not answer.show_alert
    await fake.wait_for(lambda: fake.last_message(ANN).text == "Pong #1")
    edited = fake.last_message(ANN)
    assert edited.edited and edited.message_id == greeting.message_id
    assert edited.button_texts == ["Ping", "Docs"]
    assert len(fake.messages(ANN)) == 1

    with pytest.raises(ValueError, match="no callback_query"):
        ann.press(edited, "Docs")  # a URL button opens a link, it does not call the bot
    ann.press(edited.message_id, 0)
    await fake.wait_for(lambda: fake.last_message(ANN).text == "Pong #2")
    assert echo_app.bot_data.get("errors") is None


async def test_callback_query_carries_the_full_current_message(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """Handlers read query.message; it must be the message as it is now, keyboard included."""
    ann = fake.user(ANN)
    sent = await echo_app.bot.send_message(ANN, "menu", reply_markup=_ping_keyboard())
    update_id = ann.press_data(sent.message_id, "forged")
    await fake.wait_delivered(update_id)
    [update] = [u for c in fake.calls_to("getUpdates") if c.ok for u in c.result]
    query = update["callback_query"]
    assert query["data"] == "forged"
    assert query["message"]["text"] == "menu"
    assert query["message"]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Ping"
    answer = await fake.wait_for(lambda: fake.answer_for(update_id))
    assert answer.show_alert and answer.text == "Unknown button"


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("<b>bold", 'end tag corresponding to start tag "b"'),
        ("a < b", 'unsupported start tag ""'),
        ("line<br>break", 'unsupported start tag "br"'),
        ("<b>x</i>", "unmatched end tag"),
        ("Tom & Jerry", 'character "&"'),
        ("<span>x</span>", "tg-spoiler"),
    ],
)
async def test_html_validation_rejects_bad_markup(
    fake: FakeTelegram, echo_app: Application, markup: str, error: str
) -> None:
    """Unescaped user text in HTML is the classic bot bug; Telegram answers 400."""
    fake.user(ANN)
    with pytest.raises(BadRequest, match=r"(?i)parse entities") as caught:
        await echo_app.bot.send_message(ANN, markup, parse_mode="HTML")
    # PTB strips "Bad Request: " and .capitalize()s the rest, so compare case-insensitively.
    assert error.lower() in caught.value.message.lower()
    assert fake.messages(ANN) == []
    assert fake.calls_to("sendMessage")[-1].status == 400


async def test_valid_html_is_accepted_and_rendered(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """Supported tags and entities pass; the user sees plain text plus entities."""
    fake.user(ANN)
    source = (
        "<b>B</b> <i>I</i> <u>U</u> <s>S</s> <tg-spoiler>P</tg-spoiler> <code>C</code> "
        '<a href="https://example.com">L</a> <pre><code class="language-py">x</code></pre> '
        "&lt;&gt;&amp;&quot;"
    )
    sent = await echo_app.bot.send_message(ANN, source, parse_mode="HTML")
    assert sent.text == 'B I U S P C L x <>&"'
    assert [e.type for e in sent.entities] == [
        "bold", "italic", "underline", "strikethrough", "spoiler", "code", "text_link", "pre",
    ]  # fmt: skip
    assert sent.entities[-1].language == "py"
    assert sent.text_html.startswith("<b>B</b>")  # PTB can rebuild the markup from entities
    assert fake.last_message(ANN).source == source


async def test_markdown_v2_reserved_characters_are_rejected(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """MarkdownV2 needs '.', '-', '!' ... escaped; Telegram names the offending character."""
    fake.user(ANN)
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved"):
        await echo_app.bot.send_message(ANN, "Version 1.0", parse_mode="MarkdownV2")
    sent = await echo_app.bot.send_message(ANN, r"*Version* 1\.0", parse_mode="MarkdownV2")
    assert sent.text == "Version 1.0" and sent.entities[0].type == "bold"


async def test_429_injection_raises_retry_after(
    fake: FakeTelegram, echo_app: Application, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flood control: PTB must see parameters.retry_after; only the next call fails."""
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # retry_after as timedelta, no deprecation
    fake.user(ANN)
    fake.fail("sendMessage", 429, retry_after=7)
    with pytest.raises(RetryAfter) as caught:
        await echo_app.bot.send_message(ANN, "one")
    assert caught.value.retry_after == dtm.timedelta(seconds=7)
    failed = fake.calls_to("sendMessage")[-1]
    assert (failed.status, failed.description) == (429, "Too Many Requests: retry after 7")
    await echo_app.bot.send_message(ANN, "two")  # times=1: the next call goes through
    assert fake.texts(ANN) == ["two"]


async def test_injected_failure_reaches_the_error_handler(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """A failure inside a handler goes to the Application's error handler, per chat."""
    ann, bob = fake.user(ANN), fake.user(7, "Bob")
    fake.fail("sendMessage", 500, "Internal Server Error", chat_id=ANN)
    ann.send("to ann")
    bob.send("to bob")
    await fake.wait_messages(7, 1)
    errors = await fake.wait_for(lambda: echo_app.bot_data.get("errors"))
    assert "Internal Server Error" in str(errors[0])
    assert fake.messages(ANN) == []


async def test_blocked_user_raises_forbidden(fake: FakeTelegram, echo_app: Application) -> None:
    """After the user blocks the bot every send is 403, and my_chat_member says 'kicked'."""
    ann = fake.user(ANN)
    update_id = ann.block_bot()
    await fake.wait_delivered(update_id)
    with pytest.raises(Forbidden, match="blocked by the user"):
        await echo_app.bot.send_message(ANN, "still there?")
    with pytest.raises(Forbidden):
        await echo_app.bot.send_chat_action(ANN, "typing")
    fake.unblock(ANN)
    await echo_app.bot.send_message(ANN, "welcome back")
    assert fake.texts(ANN) == ["welcome back"]


async def test_text_length_limit(fake: FakeTelegram, echo_app: Application) -> None:
    """4096 characters pass, 4097 are 'message is too long'; empty text is rejected too."""
    fake.user(ANN)
    await echo_app.bot.send_message(ANN, "x" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)too long"):
        await echo_app.bot.send_message(ANN, "x" * 4097)
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await echo_app.bot.send_message(ANN, "   ")
    assert len(fake.messages(ANN)) == 1


@pytest.mark.parametrize(
    ("token", "status"),
    [("987654321:" + "A" * 35, 401), ("not-a-token", 404)],
)
async def test_wrong_token_is_rejected_at_initialize(
    fake: FakeTelegram, token: str, status: int
) -> None:
    """Telegram: 401 for a well-formed unknown token, 404 for a malformed one."""
    app = build_echo_application(fake.base_url, token)
    with pytest.raises(InvalidToken, match="rejected"):
        await app.initialize()
    # app.shutdown() is a no-op after a failed initialize(); the bot's HTTP clients are open.
    await app.bot.shutdown()
    assert [(c.method, c.status) for c in fake.calls] == [("getMe", status)]


async def test_unknown_chat_edit_and_callback_errors(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """The 400s a bot meets in real life, with Telegram's wording."""
    bot = echo_app.bot
    ann = fake.user(ANN)
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "hi")
    sent = await bot.send_message(ANN, "menu", reply_markup=_ping_keyboard())
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", chat_id=ANN, message_id=sent.message_id + 100)
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "menu", chat_id=ANN, message_id=sent.message_id, reply_markup=_ping_keyboard()
        )
    # Editing without reply_markup removes the keyboard, as on Telegram.
    await bot.edit_message_text("menu", chat_id=ANN, message_id=sent.message_id)
    assert fake.last_message(ANN).buttons == []

    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
        await bot.send_message(ANN, "x", reply_markup=too_long)
    with pytest.raises(BadRequest, match=r"(?i)text buttons are unallowed"):
        await bot.send_message(ANN, "x", reply_markup={"inline_keyboard": [[{"text": "x"}]]})

    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query("123")
    await bot.delete_message(ANN, sent.message_id)
    assert fake.messages(ANN) == []
    with pytest.raises(LookupError):
        ann.press(sent.message_id, 0)  # deleted messages have no buttons to press


async def test_callback_query_can_be_answered_only_once(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """The echo bot answers; a second answer is what a double-answering handler would get."""
    ann = fake.user(ANN)
    sent = await echo_app.bot.send_message(ANN, "menu", reply_markup=_ping_keyboard())
    press = ann.press(sent.message_id, "Ping")
    answer = await fake.wait_for(lambda: fake.answer_for(press))
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await echo_app.bot.answer_callback_query(answer.query_id)


async def test_uploads_are_kept_and_user_files_downloadable(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """Multipart uploads keep bytes + filename; user photos download via base_file_url."""
    bot = echo_app.bot
    ann = fake.user(ANN)
    await bot.send_document(ANN, b"a,b\n1,2\n", filename="plan.csv", caption="<b>Plan</b>",
                            parse_mode="HTML")  # fmt: skip
    document = fake.last_message(ANN)
    assert (document.document, document.document_name) == (b"a,b\n1,2\n", "plan.csv")
    assert document.text == "Plan" and document.kind == "document"
    assert fake.calls_to("sendDocument")[0].files["document"].filename == "plan.csv"

    await bot.send_photo(ANN, b"\x89PNG fake")
    assert fake.last_message(ANN).photo == b"\x89PNG fake"

    update_id = ann.send_photo(b"jpeg bytes", caption="my ankle")
    await fake.wait_delivered(update_id)
    photo_id = fake.messages(ANN, include_user=True)[-1].raw["photo"][-1]["file_id"]
    telegram_file = await bot.get_file(photo_id)
    assert bytes(await telegram_file.download_as_bytearray()) == b"jpeg bytes"


async def test_long_polling_answers_as_soon_as_an_update_arrives(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """getUpdates waits (no busy loop) and returns immediately when an update is queued."""
    ann = fake.user(ANN)
    await asyncio.sleep(0.3)
    idle_polls = len(fake.calls_to("getUpdates"))
    assert idle_polls <= 2  # one pending long poll, not a stream of empty answers
    started = time.monotonic()
    update_id = ann.send("ping")
    await fake.wait_delivered(update_id)
    assert time.monotonic() - started < 0.5  # well below the 5 s poll timeout
    await fake.wait_messages(ANN, 1)


async def test_group_privacy_mode_hides_plain_messages(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """With privacy mode on (Telegram's default) groups deliver only commands for the bot."""
    ann = fake.user(ANN, chat_id=-1001, chat_type="group")
    with pytest.raises(AssertionError, match="privacy mode"):
        await fake.wait_delivered(ann.send("just chatting"))
    with pytest.raises(AssertionError, match="privacy mode"):
        await fake.wait_delivered(ann.send("/start@other_bot"))
    await fake.wait_delivered(ann.send(f"/start@{BOT_USERNAME}"))
    [greeting] = await fake.wait_messages(-1001, 1)
    assert greeting.text == "Hello, Ann!"


async def test_raw_updates_and_default_allowed_updates(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """Raw updates reach handlers; chat_member is opt-in on Telegram, so it is never sent."""
    channel = fake.add_chat(-100123, title="News")
    post = {"message_id": 1, "chat": channel, "date": int(time.time()), "text": "news"}
    await fake.wait_delivered(fake.push_update({"channel_post": post}))
    await fake.wait_for(lambda: fake.texts(-100123) == ["news"])
    member = {"chat": channel, "from": fake.bot_user, "date": int(time.time())}
    with pytest.raises(AssertionError, match="allowed_updates"):
        await fake.wait_delivered(fake.push_update({"chat_member": member}), timeout=1)


async def test_sync_helpers_fail_clearly_without_a_bot(fake: FakeTelegram) -> None:
    """Timeouts must say what was awaited, not hang or fail silently."""
    update_id = fake.user(ANN).send("nobody polls")
    with pytest.raises(AssertionError, match="not delivered within"):
        await fake.wait_delivered(update_id, timeout=0.05)
    with pytest.raises(AssertionError, match="2 bot message"):
        await fake.wait_messages(ANN, 2, timeout=0.05)


async def test_unknown_method_and_latency(fake: FakeTelegram, echo_app: Application) -> None:
    """404 'method not found' surfaces as EndPointNotFound; latency slows every call."""
    with pytest.raises(EndPointNotFound):
        await echo_app.bot.do_api_request("notAMethod")
    assert fake.calls[-1].description == "Not Found: method not found"
    fake.latency = 0.1
    started = time.monotonic()
    await echo_app.bot.get_me()
    assert time.monotonic() - started >= 0.1


async def test_commands_round_trip(fake: FakeTelegram, echo_app: Application) -> None:
    """setMyCommands stores per scope; getMyCommands returns BotCommand objects."""
    await echo_app.bot.set_my_commands([("start", "Begin"), ("help", "Help")])
    commands = await echo_app.bot.get_my_commands()
    assert [(c.command, c.description) for c in commands] == [("start", "Begin"), ("help", "Help")]
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await echo_app.bot.set_my_commands([("Bad-Name", "x")])


async def test_many_concurrent_users_are_all_answered(
    fake: FakeTelegram, echo_app: Application
) -> None:
    """A small load test: 50 users x 3 messages, every reply lands in the right chat."""
    users = [fake.user(1000 + n, f"U{n}") for n in range(50)]
    for round_ in range(3):
        for user in users:
            user.send(f"{user.user_id}:{round_}")
    for user in users:
        texts = [m.text for m in await fake.wait_messages(user.chat_id, 3)]
        assert texts == [f"{user.user_id}:{r}" for r in range(3)]


def _ping_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton("Ping", callback_data="ping")]])
