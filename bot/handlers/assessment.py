"""The knee-to-wall assessment: one question at a time, state read from the database each update.

Nothing lives in memory between updates, so a restart or another instance picks up exactly where
the user is. Every write is a compare-and-set on the draft's revision: a double tap or a button
from an older question is told so instead of being applied twice.
"""

from __future__ import annotations

from telegram import Chat, Update
from telegram.ext import ContextTypes

from bot import render
from bot.core.assessment import Draft, Step, WrongStep, evaluate
from bot.core.distance import BadDistance, parse_distance
from bot.core.programme import build_programme
from bot.handlers import edit
from bot.services import services


async def assess(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/assess and the start button: begin, or offer to continue an open assessment."""
    s = services(context)
    assert update.effective_user and update.effective_chat
    draft = await s.repo.get_draft(update.effective_user.id)
    if draft is not None:
        text, keyboard = render.resume_choice(s.knowledge, draft)
        await update.effective_chat.send_message(text, reply_markup=keyboard)
        return
    await _begin(update, context)


async def _begin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    assert update.effective_user and update.effective_chat
    draft = await s.repo.start_draft(update.effective_user.id, update.effective_chat.id)
    await update.effective_chat.send_message(render.intro(s.knowledge))
    await ask(update.effective_chat, context, draft)


async def ask(chat: Chat, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    text, keyboard = render.question(services(context).knowledge, draft)
    await chat.send_message(text, reply_markup=keyboard)


async def answer_text(update: Update, context: ContextTypes.DEFAULT_TYPE, draft: Draft) -> None:
    """A typed message while an assessment is open: a distance, or a nudge to use the buttons."""
    s = services(context)
    k = s.knowledge
    assert update.effective_user and update.effective_chat and update.message
    chat = update.effective_chat
    if draft.step is not Step.DISTANCE:
        text, keyboard = render.question(k, draft)
        await chat.send_message(f"{k.text('use_buttons')}\n\n{text}", reply_markup=keyboard)
        return
    raw = update.message.text or ""
    parsed = parse_distance(raw, k.thresholds.max_cm)
    if isinstance(parsed, BadDistance):
        problem = k.text(
            f"distance_{parsed.error.value}",
            value=render.cm(parsed.cm or 0),
            max_cm=render.cm(k.thresholds.max_cm),
        )
        text, _ = render.question(k, draft)
        await chat.send_message(f"{problem}\n\n{text}")
        return
    await _advance(update, context, draft, draft.give_distance(parsed.cm, raw[:64]))


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Callback data `as:new` or `as:<rev>:<action>:<value>`."""
    s = services(context)
    k = s.knowledge
    query = update.callback_query
    assert query and query.data and update.effective_user
    if query.data == "as:new":
        await query.answer()
        await assess(update, context)
        return
    _, rev, action, value = [*query.data.split(":", 3), "", ""][:4]
    draft = await s.repo.get_draft(update.effective_user.id)
    if draft is None or str(draft.rev) != rev:
        await query.answer(k.text("stale_button"))
        return
    if action == "go":
        await query.answer()
        await edit(query, k.text("in_progress"), None)
        if value == "restart":
            await _begin(update, context)
        else:
            assert update.effective_chat
            await ask(update.effective_chat, context, draft)
        return
    try:
        new = _apply(draft, action, value)
        label = render.answer_label(k, action, value)
    except (WrongStep, KeyError, ValueError):
        await query.answer(k.text("stale_button"))
        return
    await query.answer()
    question_html, _ = render.question(k, draft)
    await edit(query, render.answered(k, question_html, label), None)
    await _advance(update, context, draft, new)


def _apply(draft: Draft, action: str, value: str) -> Draft:
    match action, value:
        case "mode", "sep" | "same":
            return draft.choose_mode(same_for_both=value == "same")
        case "heel", "y" | "n":
            return draft.confirm_heel(heel_down=value == "y")
        case "loc", _:
            return draft.choose_location(value)
    raise ValueError(f"unknown answer {action}:{value}")


async def _advance(
    update: Update, context: ContextTypes.DEFAULT_TYPE, old: Draft, new: Draft
) -> None:
    s = services(context)
    k = s.knowledge
    assert update.effective_user and update.effective_chat
    user_id, chat = update.effective_user.id, update.effective_chat
    if new.step is Step.DONE:
        outcome = evaluate(new, k.thresholds, k.factor_of)
        saved = await s.repo.finish_assessment(user_id, old.rev, new, outcome)
        if saved is None:
            await chat.send_message(k.text("already_answered"))
            return
        text = render.result(k, outcome)
        history = await s.repo.assessments(user_id)
        if len(history) >= 2:
            text += "\n\n" + render.since_last(k, history[-2], history[-1])
        await chat.send_message(text)
        text, keyboard = render.programme(
            k, build_programme(outcome.factors, k.blocks, k.exercises)
        )
        await chat.send_message(text, reply_markup=keyboard)
        return
    if not await s.repo.save_draft(user_id, old.rev, new):
        await chat.send_message(k.text("already_answered"))
        return
    if old.step is Step.HEEL and new.step is Step.DISTANCE and new.leg == old.leg:
        await chat.send_message(k.text("heel_invalid"))
    await ask(chat, context, new)
