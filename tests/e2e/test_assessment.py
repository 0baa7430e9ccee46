"""The assessment conversation end to end: real handlers, real HTTP, real database."""

from __future__ import annotations

import pytest

from bot.app import COMMANDS
from tests.e2e.conftest import Chat, RunningBot, start_bot, stop_bot

LOCATIONS = {
    "Front of ankle": "the ankle joint",
    "Back of ankle (Achilles)": "the Achilles tendon",
    "Back of calf": "the calf muscles or nerve tension",
    "Along the shin": "the muscles at the front of the shin",
}


async def measure(chat: Chat, distance: str, where: str) -> None:
    await chat.send(distance)
    await chat.press("Yes, heel stayed down")
    await chat.press(where)


async def test_start_greets_and_registers_the_command_menu(bot: RunningBot) -> None:
    turn = await bot.chat().send("/start")
    assert "Hi Ann!" in turn.text and "not a substitute for a clinician" in turn.text
    assert turn.last.button_texts == ["Start the assessment", "Browse the exercises"]
    commands = [c["command"] for c in bot.fake.commands()]
    assert commands == list(COMMANDS)


async def test_both_legs_from_start_button_to_programme(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/start")
    turn = await chat.press("Start the assessment")
    assert "Lunge forward until your knee touches the wall" in turn.text
    assert turn.last.button_texts == ["Each leg separately", "Both the same"]
    turn = await chat.press("Each leg separately")
    assert turn.texts[0].endswith("→ Each leg separately")
    assert turn.texts[0] and turn.messages[0].buttons == []
    assert "Left leg: how far is your big toe" in turn.texts[1]
    await measure(chat, "9 cm", "Front of ankle")
    await chat.send("85 mm")
    await chat.press("Yes, heel stayed down")
    turn = await chat.press("Back of calf")
    text = turn.text
    assert "Left leg: 9 cm - at or past the 8 cm target" in text
    assert "Right leg: 8.5 cm - at or past the 8 cm target" in text
    assert "differ by 0.5 cm, which is within normal" in text
    assert "the ankle joint" in text and "the calf muscles or nerve tension" in text
    assert "★ Ankle traction (with a helper): Hold 30 seconds, 3 times" in text
    assert "★ Nerve flossing: 20 repetitions" in text
    assert "• Seated dorsiflexion holds: Hold 10 seconds, 20 times" in text
    assert "• Eccentric drop: Hold 5 seconds, then lower slowly; 30 times" in text
    [saved] = await bot.repo.assessments(42)
    assert (saved.left_cm, saved.right_cm, saved.same_for_both) == (9.0, 8.5, False)
    assert saved.factors == ("joint", "muscle-neural")
    assert await bot.repo.get_draft(42) is None


@pytest.mark.parametrize(("where", "factor"), LOCATIONS.items())
async def test_both_the_same_for_every_location(bot: RunningBot, where: str, factor: str) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Both the same")
    await chat.send("5")
    await chat.press("Yes, heel stayed down")
    turn = await chat.press(where)
    assert "Both legs: 5 cm - 3 cm short of the 8 cm target" in turn.text
    assert f"Most likely holding you back: <b>{factor}</b>" in turn.messages[-2].source
    assert "differ" not in turn.text
    assert ("Shin muscle release" in turn.text) == (where == "Along the shin")


async def test_nowhere_gives_an_even_programme(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Both the same")
    await chat.send("8")
    await chat.press("Yes, heel stayed down")
    turn = await chat.press("Nowhere / not sure")
    assert "didn't feel a clear spot" in turn.text and "★" not in turn.text.split("= your")[1]
    assert "You are at the target" in turn.text


async def test_a_real_asymmetry_is_pointed_out(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Each leg separately")
    await measure(chat, "10", "Back of calf")
    await chat.send("8.4")
    await chat.press("Yes, heel stayed down")
    turn = await chat.press("Back of calf")
    assert "Your legs differ by 1.6 cm" in turn.text and "extra attention" in turn.text
    assert "right leg" in turn.text


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("eight", "I need the distance as a number"),
        ("-4", "can't be negative"),
        ("0", "A distance of zero can't be scored"),
        ("45", "45 is more than 30 cm"),
        ("8 feet", "I understand centimetres, millimetres and inches"),
        ("7-9", "a single number, not a range"),
        ("🦶", "I need the distance as a number"),
        ("x" * 4096, "I need the distance as a number"),
        ("<b>8</b>", "I need the distance as a number"),
    ],
)
async def test_bad_distances_are_explained_and_asked_again(
    bot: RunningBot, typed: str, expected: str
) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Both the same")
    turn = await chat.send(typed)
    [reply] = turn.messages
    assert expected in reply.text
    assert "Both legs: how far is your big toe from the wall" in reply.text
    draft = await bot.repo.get_draft(42)
    assert draft is not None and draft.step.value == "distance"
    turn = await chat.send("8")
    assert "did your heel stay flat" in turn.text


async def test_a_lifted_heel_means_measuring_again(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Both the same")
    await chat.send("12")
    turn = await chat.press("No, it lifted")
    assert "that measurement doesn't count" in turn.text
    assert "Both legs: how far is your big toe" in turn.texts[-1]
    await chat.send("6")
    await chat.press("Yes, heel stayed down")
    turn = await chat.press("Front of ankle")
    assert "Both legs: 6 cm" in turn.text


async def test_typing_when_a_button_is_expected(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    turn = await chat.send("both please")
    assert "Please tap one of the buttons" in turn.text
    assert turn.last.button_texts == ["Each leg separately", "Both the same"]
    turn = await chat.press("Both the same", turn.last)
    assert "Both legs: how far" in turn.text


async def test_stickers_and_photos_mid_assessment(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Both the same")
    turn = await chat.sticker()
    assert turn.texts == [
        "I can only read text messages. /help shows what I can do.",
        "Your assessment is still open: answer the question above to go on, or /cancel.",
    ]
    turn = await chat._turn(chat.user.send_photo())
    assert "only read text" in turn.text
    assert "did your heel" in (await chat.send("7")).text


@pytest.mark.parametrize("steps_done", [0, 1, 2, 3, 4])
async def test_cancel_works_at_every_step_and_keeps_earlier_results(
    bot: RunningBot, steps_done: int
) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Both the same")
    await measure(chat, "7", "Front of ankle")
    await chat.send("/assess")
    actions = [
        lambda: chat.press("Each leg separately"),
        lambda: chat.send("7"),
        lambda: chat.press("Yes, heel stayed down"),
        lambda: chat.press("Back of calf"),
    ]
    for action in actions[:steps_done]:
        await action()
    turn = await chat.send("/cancel")
    assert "Assessment cancelled" in turn.text
    assert await bot.repo.get_draft(42) is None
    assert len(await bot.repo.assessments(42)) == 1
    assert "nothing to cancel" in (await chat.send("/cancel")).text
    after = (await chat.send("8")).text  # no longer read as a distance
    assert "heel" not in after and "how far" not in after and after


async def test_commands_mid_assessment_do_what_they_say(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Each leg separately")
    turn = await chat.send("/help")
    assert "/assess - measure both ankles" in turn.text
    assert "assessment is still open" in turn.texts[-1]
    turn = await chat.send("/exercises")
    assert "pick a part of the routine" in turn.text
    turn = await chat.send("/nonsense")
    assert "I don't know that command" in turn.text and "still open" in turn.text
    turn = await chat.send("/start")
    assert "Hi Ann" in turn.text and turn.last.button_texts == ["Continue", "Start over"]
    turn = await chat.press("Continue")
    assert "Left leg: how far" in turn.texts[-1]
    assert "did your heel" in (await chat.send("7")).text


async def test_assess_again_offers_to_continue_or_start_over(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Each leg separately")
    await chat.send("7")
    turn = await chat.send("/assess")
    assert "in the middle of an assessment" in turn.text
    turn = await chat.press("Start over")
    assert turn.messages[0].buttons == []
    assert turn.last.button_texts == ["Each leg separately", "Both the same"]
    draft = await bot.repo.get_draft(42)
    assert draft is not None and draft.step.value == "mode"


async def test_buttons_pressed_twice_or_out_of_date(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    mode = (await chat.send("/assess")).last  # "continue or start over"
    question = bot.fake.messages(42)[-2]
    assert question.button_texts == ["Each leg separately", "Both the same"]
    await chat.press("Both the same", question)
    second = await chat._turn(chat.user.press_data(question.message_id, question.buttons[0][0][1]))
    assert second.toast == "That button belongs to an older message." and second.messages == []
    stale = await chat.press("Continue", mode)
    assert stale.toast == "That button belongs to an older message."
    forged = await chat.press_data(question.message_id, "as:999:loc:moon")
    assert forged.toast == "That button belongs to an older message."
    junk = await chat.press_data(question.message_id, "zz:whatever")
    assert junk.toast == "That button belongs to an older message."
    draft = await bot.repo.get_draft(42)
    assert draft is not None and draft.legs and draft.step.value == "distance"


async def test_a_restart_mid_assessment_keeps_the_users_place(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Each leg separately")
    await measure(chat, "7", "Front of ankle")
    await chat.send("6.5")
    await stop_bot(bot.app)
    bot.app = await start_bot(bot.fake, bot.app.bot_data["services"])
    turn = await chat.press("Yes, heel stayed down")
    assert "Right leg: where did you feel" in turn.text
    turn = await chat.press("Back of ankle (Achilles)")
    assert "Left leg: 7 cm" in turn.text and "Right leg: 6.5 cm" in turn.text


async def test_free_text_outside_an_assessment_is_never_ignored(bot: RunningBot) -> None:
    turn = await bot.chat().send("qwertyuiop asdfgh")
    assert "/assess" in turn.text and "/exercises" in turn.text and "/help" in turn.text
