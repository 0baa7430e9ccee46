"""The exercise library, browsed as a user would."""

from __future__ import annotations

from tests.e2e.conftest import RunningBot


async def test_browse_a_block_and_a_card_and_back(bot: RunningBot) -> None:
    chat = bot.chat()
    turn = await chat.send("/exercises")
    assert turn.last.button_texts == [
        "Warm-up",
        "Releases",
        "Stretches",
        "Joint mobilisation",
        "Strengthening",
        "Nerve flossing",
    ]
    library = turn.last
    turn = await chat.press("Stretches", library)
    assert turn.last.message_id == library.message_id  # browsed in place
    assert turn.last.button_texts == [
        "Gastrocnemius stretch (on a step)",
        "Soleus stretch (bent-knee lunge)",
        "All parts",
    ]
    turn = await chat.press("Soleus stretch (bent-knee lunge)")
    card = turn.last.text or ""
    assert "Dose: Hold 30 seconds" in card
    assert "You need: Nothing" in card
    assert "Keep the heel on the floor the whole time." in card
    assert "No pain: every exercise should be pain-free." in card
    assert "Don't let the foot roll inwards" in card
    assert "Works on: the calf muscles or nerve tension, the Achilles tendon" in card
    turn = await chat.press("Back to Stretches")
    assert "Lengthen the two calf muscles" in turn.text
    turn = await chat.press("All parts")
    assert "pick a part of the routine" in turn.text


async def test_every_card_opens_and_fits_a_message(bot: RunningBot) -> None:
    chat = bot.chat()
    for block in (
        "Warm-up",
        "Releases",
        "Stretches",
        "Joint mobilisation",
        "Strengthening",
        "Nerve flossing",
    ):
        await chat.send("/exercises")
        turn = await chat.press(block)
        for name in turn.last.button_texts[:-1]:
            card = (await chat.press(name)).last
            assert "Dose:" in (card.text or "") and len(card.text or "") < 1500
            await chat.press(f"Back to {block}")


async def test_cards_from_the_programme_open_as_new_messages(bot: RunningBot) -> None:
    chat = bot.chat()
    await chat.send("/assess")
    await chat.press("Both the same")
    await chat.send("6")
    await chat.press("Yes, heel stayed down")
    programme = (await chat.press("Back of ankle (Achilles)")).last
    assert "Achilles release (ball)" in programme.button_texts
    turn = await chat.press("Achilles release (ball)", programme)
    assert turn.last.message_id != programme.message_id
    assert "Dose: 1-3 minutes per leg" in (turn.last.text or "")
    assert bot.fake.messages(42)[-2].button_texts == programme.button_texts


async def test_a_card_that_no_longer_exists(bot: RunningBot) -> None:
    chat = bot.chat()
    library = (await chat.send("/exercises")).last
    turn = await chat.press_data(library.message_id, "ex:e:retired-exercise")
    assert turn.toast == "That button belongs to an older message."
