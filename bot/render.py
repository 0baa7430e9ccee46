"""Turn core results and knowledge into Telegram HTML and inline keyboards.

Callback data is short and versioned so a button can always be checked against the current
state: `as:<rev>:<action>:<value>` for assessment answers, `ex:<kind>:<id>` for the library,
`rm:<action>:<value>` for reminders, `faq:<action>:<value>` for questions.
"""

from __future__ import annotations

from datetime import date, datetime

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from bot.core.assessment import Draft, Leg, LegResult, Result, Status, Step
from bot.core.faq import FaqEntry
from bot.core.programme import Exercise, Programme
from bot.core.schedule import DAY_ABBREVIATIONS, Schedule, describe_days, zone_info
from bot.core.sessions import Change, Session, Trend, compare_tests
from bot.core.timezones import describe_zone
from bot.knowledge import Knowledge
from bot.storage.repository import SavedAssessment

Keyboard = InlineKeyboardMarkup | None


def cm(value: float) -> str:
    """8.0 -> '8', 8.5 -> '8.5': people write distances without trailing zeros."""
    return f"{value:.1f}".removesuffix(".0")


def rows(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in buttons])


def start(k: Knowledge, name: str) -> tuple[str, InlineKeyboardMarkup]:
    return k.text("start", name=name), rows(
        (k.text("start_button_assess"), "as:new"),
        (k.text("start_button_exercises"), "ex:lib"),
    )


def intro(k: Knowledge) -> str:
    return k.text("intro", steps=_list(k.test_steps, numbered=True))


def resume_choice(k: Knowledge, draft: Draft) -> tuple[str, InlineKeyboardMarkup]:
    return k.text("in_progress"), rows(
        (k.text("continue_button"), f"as:{draft.rev}:go:continue"),
        (k.text("restart_button"), f"as:{draft.rev}:go:restart"),
    )


def question(k: Knowledge, draft: Draft) -> tuple[str, Keyboard]:
    """The question a draft is waiting on, with the buttons that answer it."""
    rev = draft.rev
    leg = k.leg_names[draft.leg] if draft.leg else ""
    match draft.step:
        case Step.MODE:
            return k.text("ask_mode"), rows(
                (k.text("mode_separate"), f"as:{rev}:mode:sep"),
                (k.text("mode_same"), f"as:{rev}:mode:same"),
            )
        case Step.DISTANCE:
            return k.text("ask_distance", leg=leg), None
        case Step.HEEL:
            return k.text("ask_heel", leg=leg), rows(
                (k.text("heel_yes"), f"as:{rev}:heel:y"),
                (k.text("heel_no"), f"as:{rev}:heel:n"),
            )
        case Step.FEEL:
            return k.text("ask_feel", leg=leg), rows(
                *((loc.label, f"as:{rev}:loc:{loc.id}") for loc in k.locations)
            )
    raise ValueError(f"no question at step {draft.step}")


def answer_label(k: Knowledge, action: str, value: str) -> str:
    """The words of the button a user pressed, to leave on the question once it is answered."""
    labels = {
        ("mode", "sep"): k.text("mode_separate"),
        ("mode", "same"): k.text("mode_same"),
        ("heel", "y"): k.text("heel_yes"),
        ("heel", "n"): k.text("heel_no"),
    }
    if action == "loc" and (loc := k.location(value)):
        return loc.label
    return labels[(action, value)]


def answered(k: Knowledge, question_html: str, label: str) -> str:
    return f"{question_html}\n{k.text('answered', answer=label)}"


def _leg_line(k: Knowledge, r: LegResult) -> str:
    t = k.thresholds
    status = {
        Status.AT_TARGET: k.text("status_at_target", target=cm(t.target_cm)),
        Status.NEAR_TARGET: k.text("status_near_target", gap=cm(r.gap_cm), target=cm(t.target_cm)),
        Status.BELOW_TARGET: k.text(
            "status_below_target", gap=cm(r.gap_cm), target=cm(t.target_cm)
        ),
    }[r.status]
    return k.text("result_leg", leg=k.leg_names[r.leg], cm=cm(r.cm), status=status)


def result(k: Knowledge, res: Result) -> str:
    t = k.thresholds
    lines = [k.text("result_title"), *(_leg_line(k, r) for r in res.legs)]
    if res.difference_cm is not None:
        if res.asymmetric:
            stiffer = k.leg_names[res.stiffer_leg or Leg.BOTH].lower()
            lines.append(
                k.text(
                    "asymmetry",
                    diff=cm(res.difference_cm),
                    threshold=cm(t.asymmetry_cm),
                    leg=stiffer,
                )
            )
        else:
            lines.append(k.text("symmetric", diff=cm(res.difference_cm)))
    lines.append("")
    for factor_id in res.factors:
        f = k.factors[factor_id]
        lines.append(k.text("factor_line", name=f.name, explanation=f.explanation))
    if not res.factors:
        lines.append(k.text("no_factor"))
    if res.all_at_target:
        lines.append(k.text("all_at_target"))
    return "\n".join(lines)


def change(k: Knowledge, c: Change) -> str:
    """A change between two tests, called noise when the test itself could explain it."""
    signed = f"{c.delta_cm:+.1f}".removesuffix(".0")
    key = {Trend.BETTER: "better", Trend.WORSE: "worse", Trend.WITHIN_NOISE: "noise"}[c.trend]
    return k.text(f"progress_change_{key}", delta=signed)


def since_last(k: Knowledge, before: SavedAssessment, now: SavedAssessment) -> str:
    noise = k.thresholds.measurement_error_cm
    legs = (
        [("both", "left_cm")] if now.same_for_both else [("left", "left_cm"), ("right", "right_cm")]
    )
    parts = [
        f"{k.text(f'progress_leg_{leg}')} "
        + change(k, compare_tests(getattr(before, field), getattr(now, field), noise))
        for leg, field in legs
    ]
    day = f"{before.created_at.day} {before.created_at:%b}"
    return k.text("since_last", day=day, changes="; ".join(parts))


def programme(k: Knowledge, prog: Programme) -> tuple[str, InlineKeyboardMarkup]:
    lines = [k.text("programme_title")]
    for n, pb in enumerate(prog.blocks, 1):
        lines.append("")
        lines.append(k.text("programme_block", n=n, title=pb.block.title))
        for item in pb.items:
            mark = "★" if item.focus else "•"
            ex = item.exercise
            lines.append(k.text("programme_item", mark=mark, name=ex.name, dose=ex.dose))
    lines += ["", k.text("programme_footer")]
    buttons = [(k.text("open_exercise", name=ex.name), f"ex:show:{ex.id}") for ex in prog.focus]
    buttons.append((k.text("all_exercises_button"), "ex:lib"))
    buttons.append((k.text("reminders_offer_button"), "rm:show"))
    return "\n".join(lines), rows(*buttons)


def library(k: Knowledge) -> tuple[str, InlineKeyboardMarkup]:
    return k.text("library_title"), rows(*((b.title, f"ex:b:{b.id}") for b in k.blocks))


def block(k: Knowledge, block_id: str) -> tuple[str, InlineKeyboardMarkup] | None:
    b = k.block(block_id)
    if b is None:
        return None
    buttons = [(e.name, f"ex:e:{e.id}") for e in k.exercises if e.block == b.id]
    buttons.append((k.text("back_to_library"), "ex:lib"))
    return k.text("block_title", title=b.title, purpose=b.purpose), rows(*buttons)


def card(k: Knowledge, ex: Exercise) -> tuple[str, InlineKeyboardMarkup]:
    b = k.block(ex.block)
    assert b is not None  # the loader checks every exercise's block
    cautions = [*ex.cautions, k.text("caution_pain_free")]
    if ex.ground:
        cautions.append(k.text("caution_roll_in"))
    targets = ", ".join(k.factors[f].name for f in ex.targets) or k.text("card_targets_general")
    text = k.text(
        "card",
        name=ex.name,
        block=b.title,
        dose=ex.dose,
        equipment=ex.equipment,
        targets=targets,
        steps=_list(ex.steps, numbered=True),
        cautions=_list(cautions, numbered=False),
    )
    return text, rows(
        (k.text("back_to_block", title=b.title), f"ex:b:{b.id}"),
        (k.text("back_to_library"), "ex:lib"),
    )


def _list(items: list[str] | tuple[str, ...], *, numbered: bool) -> str:
    return "\n".join(f"{n}. {s}" if numbered else f"• {s}" for n, s in enumerate(items, 1))


# --- reminders -----------------------------------------------------------------------------
COMMON_TIMES = ("07:00", "08:00", "12:00", "18:00", "20:00")


def when(moment: datetime, zone: str) -> str:
    """A UTC instant as the user's wall clock: 'Tue 25 Nov, 07:30'."""
    local = moment.astimezone(zone_info(zone))
    return f"{local:%a} {local.day} {local:%b}, {local:%H:%M}"


def reminder(
    k: Knowledge, session: Session, day: date, *, retest: bool
) -> tuple[str, InlineKeyboardMarkup]:
    lines = [k.text("reminder_title", day=f"{day:%a} {day.day} {day:%b}")]
    block = None
    for item in session:
        if item.block.id != block:
            block = item.block.id
            lines += [
                "",
                k.text("programme_block", n=_block_number(k, block), title=item.block.title),
            ]
        mark = "★" if item.focus else "•"
        lines.append(
            k.text("programme_item", mark=mark, name=item.exercise.name, dose=item.exercise.dose)
        )
    lines += ["", k.text("reminder_footer")]
    if retest:
        lines.append(k.text("retest_due"))
    stamp = day.strftime("%Y%m%d")
    keyboard = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(k.text("done_button"), callback_data=f"rm:done:{stamp}")],
            [
                InlineKeyboardButton(k.text("snooze_button"), callback_data=f"rm:snooze:{stamp}"),
                InlineKeyboardButton(k.text("skip_button"), callback_data=f"rm:skip:{stamp}"),
            ],
        ]
    )
    return "\n".join(lines), keyboard


def _block_number(k: Knowledge, block_id: str) -> int:
    return next(n for n, b in enumerate(k.blocks, 1) if b.id == block_id)


def reminder_status(
    k: Knowledge, schedule: Schedule, next_due: datetime | None, now: datetime
) -> tuple[str, InlineKeyboardMarkup]:
    if schedule.paused or next_due is None:
        upcoming = k.text("reminders_paused")
    else:
        upcoming = k.text("reminders_next", when=when(next_due, schedule.zone))
    text = k.text(
        "reminders_status",
        time=schedule.local_time.strftime("%H:%M"),
        days=describe_days(schedule.days),
        zone=describe_zone(schedule.zone, now),
        next="\x00",
    ).replace("\x00", upcoming)
    toggle = ("resume_button", "rm:resume") if schedule.paused else ("pause_button", "rm:pause")
    return text, rows(
        (k.text("change_time_button"), "rm:change:time"),
        (k.text("change_days_button"), "rm:change:days"),
        (k.text("change_zone_button"), "rm:change:zone"),
        (k.text(toggle[0]), toggle[1]),
        (k.text("stop_button"), "rm:stop"),
    )


def time_choices() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t, callback_data=f"rm:t:{t}") for t in COMMON_TIMES]]
    )


def days_choices(k: Knowledge) -> InlineKeyboardMarkup:
    return rows(
        (k.text("every_day_button"), "rm:d:0123456"),
        (k.text("weekdays_button"), "rm:d:01234"),
        (k.text("choose_days_button"), "rm:pick:"),
    )


def days_picker(k: Knowledge, chosen: frozenset[int]) -> InlineKeyboardMarkup:
    """Toggle buttons whose data carries the whole selection, so no state is kept elsewhere."""
    current = "".join(str(d) for d in sorted(chosen))
    buttons = [
        InlineKeyboardButton(
            f"✓ {name}" if n in chosen else name,
            callback_data=f"rm:pick:{''.join(str(d) for d in sorted(chosen ^ {n}))}",
        )
        for n, name in enumerate(DAY_ABBREVIATIONS)
    ]
    return InlineKeyboardMarkup(
        [
            buttons[:4],
            buttons[4:],
            [InlineKeyboardButton(k.text("save_days_button"), callback_data=f"rm:d:{current}")],
        ]
    )


def zone_choices(zones: tuple[str, ...]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(z.replace("_", " "), callback_data=f"rm:z:{z}")] for z in zones]
    )


def location_keyboard(k: Knowledge) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [
            [KeyboardButton(k.text("share_location_button"), request_location=True)],
            [KeyboardButton(k.text("local_time_button"))],
        ],
        one_time_keyboard=True,
        resize_keyboard=True,
    )


# --- questions -----------------------------------------------------------------------------
def faq_answer(k: Knowledge, entry: FaqEntry, *, feedback: bool = True) -> tuple[str, Keyboard]:
    """The answer, with buttons to the exercise cards it mentions, related entries and feedback."""
    buttons = [
        (k.text("faq_exercise", name=ex.name), f"ex:show:{ex.id}")
        for ex in (k.exercise(i) for i in entry.exercises)
        if ex is not None
    ]
    buttons += [
        (k.text("faq_related", title=rel.title), f"faq:e:{rel.id}")
        for rel in (k.faq.entry(i) for i in entry.related)
        if rel is not None
    ]
    keyboard = [[InlineKeyboardButton(t, callback_data=d)] for t, d in buttons]
    if feedback:
        keyboard.append(
            [
                InlineKeyboardButton(
                    k.text("faq_helpful_button"), callback_data=f"faq:fb:{entry.id}:y"
                ),
                InlineKeyboardButton(
                    k.text("faq_not_helpful_button"), callback_data=f"faq:fb:{entry.id}:n"
                ),
            ]
        )
    return entry.answer, InlineKeyboardMarkup(keyboard) if keyboard else None


def faq_suggestions(
    k: Knowledge, entries: tuple[FaqEntry, ...], ticket: str
) -> tuple[str, InlineKeyboardMarkup]:
    return k.text("faq_did_you_mean"), rows(
        *((e.title, f"faq:pick:{ticket}:{e.id}") for e in entries),
        (k.text("faq_none_button"), f"faq:none:{ticket}"),
    )


def faq_topics(k: Knowledge) -> tuple[str, InlineKeyboardMarkup]:
    return k.text("faq_topics"), rows(*((t.title, f"faq:t:{t.id}") for t in k.faq.topics))


def faq_topic(k: Knowledge, topic_id: str) -> tuple[str, InlineKeyboardMarkup] | None:
    topic = next((t for t in k.faq.topics if t.id == topic_id), None)
    if topic is None:
        return None
    return k.text("faq_topic", title=topic.title), rows(
        *((e.title, f"faq:e:{e.id}") for e in k.faq.in_topic(topic.id)),
        (k.text("faq_back_to_topics"), "faq:topics"),
    )
