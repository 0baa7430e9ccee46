"""Free-text questions: warning signs first, then the FAQ; /faq to browse by topic.

A warning sign gets clinician advice and nothing else: no exercise, no dose. What curators
need to improve the FAQ (unmatched questions, confirmed phrasings, feedback) is logged without
any user id.
"""

from __future__ import annotations

from telegram import Chat, Update
from telegram.ext import ContextTypes

from bot import render
from bot.core.faq import Answer, FaqEntry, NoMatch, Suggestions, WarningSign
from bot.handlers import edit
from bot.knowledge import Knowledge
from bot.services import services


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    k = s.knowledge
    assert update.message and update.effective_chat
    chat, text = update.effective_chat, update.message.text or ""
    # The day it was sent (UTC; a day off the user's own date does not change a month count).
    match k.faq.matcher.answer(text, update.message.date.date()):
        case WarningSign(rule):
            s.faq_log.note("warning", entry_id=rule.id)
            await chat.send_message(rule.advice)
        case Answer(entry):
            s.faq_log.note("answered", entry_id=entry.id)
            await _send_answer(chat, k, entry)
        case Suggestions(entries):
            ticket = await s.faq_log.suggest(_kept(text))
            prompt, keyboard = render.faq_suggestions(k, entries, ticket)
            await chat.send_message(prompt, reply_markup=keyboard)
        case NoMatch():
            s.faq_log.note("unmatched", question=_kept(text))
            await chat.send_message(k.text("fallback"))


def _kept(text: str) -> str:
    """What a curator sees: the words, without line breaks or control characters (PostgreSQL
    refuses NUL in text)."""
    return " ".join("".join(ch for ch in text if ch.isprintable() or ch.isspace()).split())


async def topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/faq"""
    assert update.effective_chat
    text, keyboard = render.faq_topics(services(context).knowledge)
    await update.effective_chat.send_message(text, reply_markup=keyboard)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """`faq:topics`, `faq:t:<topic>`, `faq:e:<entry>`, `faq:pick:<ticket>:<entry>`,
    `faq:none:<ticket>`, `faq:fb:<entry>:<y|n>`."""
    s = services(context)
    k = s.knowledge
    query = update.callback_query
    assert query and query.data and update.effective_chat
    chat = update.effective_chat
    action, _, rest = query.data.removeprefix("faq:").partition(":")
    first, _, second = rest.partition(":")
    if action == "topics":
        await query.answer()
        await edit(query, *render.faq_topics(k))
    elif action == "t" and (page := render.faq_topic(k, first)):
        await query.answer()
        await edit(query, *page)
    elif action == "e" and (entry := k.faq.entry(first)):
        await query.answer()
        await _send_answer(chat, k, entry)
    elif action in ("pick", "none"):
        entry = k.faq.entry(second) if action == "pick" else None
        if action == "pick" and entry is None:
            await query.answer(k.text("stale_button"))
            return
        asked = await s.faq_log.take_suggested(first)
        if asked is None:
            await query.answer(k.text("stale_button"))
            return
        await query.answer()
        await edit(query, k.text("faq_did_you_mean"), None)
        if entry is None:
            s.faq_log.note("unmatched", question=asked)
            await chat.send_message(k.text("fallback"))
        else:
            s.faq_log.note("confirmed", entry_id=entry.id, question=asked)
            await _send_answer(chat, k, entry)
    elif action == "fb" and (entry := k.faq.entry(first)) and second in ("y", "n"):
        await query.answer(k.text("faq_thanks"))
        if await edit(query, *render.faq_answer(k, entry, feedback=False)):  # a double tap: once
            s.faq_log.note("helpful" if second == "y" else "not_helpful", entry_id=entry.id)
    else:
        await query.answer(k.text("stale_button"))


async def _send_answer(chat: Chat, k: Knowledge, entry: FaqEntry) -> None:
    text, keyboard = render.faq_answer(k, entry)
    await chat.send_message(text, reply_markup=keyboard)
