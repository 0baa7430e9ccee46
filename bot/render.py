"""Turn core results and knowledge into Telegram HTML and inline keyboards.

Callback data is short and versioned so a button can always be checked against the current
state: `as:<rev>:<action>:<value>` for assessment answers, `ex:<kind>:<id>` for the library.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.assessment import Draft, Leg, LegResult, Result, Status, Step
from bot.core.programme import Exercise, Programme
from bot.knowledge import Knowledge

Keyboard = InlineKeyboardMarkup | None


def cm(value: float) -> str:
    """8.0 -> '8', 8.5 -> '8.5': people write distances without trailing zeros."""
    return f"{value:.1f}".removesuffix(".0")


def _rows(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in buttons])


def start(k: Knowledge, name: str) -> tuple[str, InlineKeyboardMarkup]:
    return k.text("start", name=name), _rows(
        (k.text("start_button_assess"), "as:new"),
        (k.text("start_button_exercises"), "ex:lib"),
    )


def intro(k: Knowledge) -> str:
    return k.text("intro", steps=_list(k.test_steps, numbered=True))


def resume_choice(k: Knowledge, draft: Draft) -> tuple[str, InlineKeyboardMarkup]:
    return k.text("in_progress"), _rows(
        (k.text("continue_button"), f"as:{draft.rev}:go:continue"),
        (k.text("restart_button"), f"as:{draft.rev}:go:restart"),
    )


def question(k: Knowledge, draft: Draft) -> tuple[str, Keyboard]:
    """The question a draft is waiting on, with the buttons that answer it."""
    rev = draft.rev
    leg = k.leg_names[draft.leg] if draft.leg else ""
    match draft.step:
        case Step.MODE:
            return k.text("ask_mode"), _rows(
                (k.text("mode_separate"), f"as:{rev}:mode:sep"),
                (k.text("mode_same"), f"as:{rev}:mode:same"),
            )
        case Step.DISTANCE:
            return k.text("ask_distance", leg=leg), None
        case Step.HEEL:
            return k.text("ask_heel", leg=leg), _rows(
                (k.text("heel_yes"), f"as:{rev}:heel:y"),
                (k.text("heel_no"), f"as:{rev}:heel:n"),
            )
        case Step.FEEL:
            return k.text("ask_feel", leg=leg), _rows(
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
    return "\n".join(lines), _rows(*buttons)


def library(k: Knowledge) -> tuple[str, InlineKeyboardMarkup]:
    return k.text("library_title"), _rows(*((b.title, f"ex:b:{b.id}") for b in k.blocks))


def block(k: Knowledge, block_id: str) -> tuple[str, InlineKeyboardMarkup] | None:
    b = k.block(block_id)
    if b is None:
        return None
    buttons = [(e.name, f"ex:e:{e.id}") for e in k.exercises if e.block == b.id]
    buttons.append((k.text("back_to_library"), "ex:lib"))
    return k.text("block_title", title=b.title, purpose=b.purpose), _rows(*buttons)


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
    return text, _rows(
        (k.text("back_to_block", title=b.title), f"ex:b:{b.id}"),
        (k.text("back_to_library"), "ex:lib"),
    )


def _list(items: list[str] | tuple[str, ...], *, numbered: bool) -> str:
    return "\n".join(f"{n}. {s}" if numbered else f"• {s}" for n, s in enumerate(items, 1))
