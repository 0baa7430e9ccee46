from __future__ import annotations

import pytest

from bot.core.assessment import Draft, Leg, Status, Step, Thresholds, WrongStep, evaluate
from bot.knowledge import Knowledge

T = Thresholds(target_cm=8.0, asymmetry_cm=1.5, measurement_error_cm=1.6, max_cm=30.0)
FACTOR_OF = {"front": "joint", "achilles": "tendon", "calf": "muscle-neural", "none": None}


def measured(left: tuple[float, str], right: tuple[float, str] | None = None) -> Draft:
    draft = Draft().choose_mode(same_for_both=right is None)
    for cm, where in (left, right) if right else (left,):
        draft = draft.give_distance(cm, str(cm)).confirm_heel(True).choose_location(where)
    return draft


def test_each_leg_is_asked_in_turn() -> None:
    draft = Draft().choose_mode(same_for_both=False)
    assert (draft.step, draft.leg) == (Step.DISTANCE, Leg.LEFT)
    draft = draft.give_distance(7, "7").confirm_heel(True).choose_location("front")
    assert (draft.step, draft.leg) == (Step.DISTANCE, Leg.RIGHT)


def test_a_lifted_heel_voids_the_measurement_and_asks_again() -> None:
    draft = Draft().choose_mode(same_for_both=True).give_distance(9, "9")
    redo = draft.confirm_heel(False)
    assert redo.step is Step.DISTANCE and redo.leg is Leg.BOTH
    assert redo.answers[Leg.BOTH].cm is None and redo.answers[Leg.BOTH].invalid_attempts == 1


def test_answers_out_of_order_are_refused() -> None:
    with pytest.raises(WrongStep):
        Draft().confirm_heel(True)
    with pytest.raises(WrongStep):
        Draft().choose_mode(same_for_both=True).choose_location("front")


def test_every_answer_moves_the_revision() -> None:
    draft = Draft()
    revs = [draft.rev]
    for step in (
        lambda d: d.choose_mode(same_for_both=True),
        lambda d: d.give_distance(5, "5"),
        lambda d: d.confirm_heel(True),
    ):
        draft = step(draft)
        revs.append(draft.rev)
    assert revs == sorted(set(revs))


def test_draft_round_trips_through_json() -> None:
    draft = Draft().choose_mode(same_for_both=False).give_distance(6.5, "65 mm")
    assert Draft.from_json(draft.to_json()) == draft


@pytest.mark.parametrize(
    ("cm", "status"),
    [
        (8.0, Status.AT_TARGET),
        (12, Status.AT_TARGET),
        (6.5, Status.NEAR_TARGET),
        (6.4, Status.BELOW_TARGET),
        (2, Status.BELOW_TARGET),
    ],
)
def test_status_against_the_target(cm: float, status: Status) -> None:
    result = evaluate(measured((cm, "none")), T, FACTOR_OF)
    assert result.legs[0].status is status


def test_asymmetry_is_more_than_one_and_a_half_cm() -> None:
    even = evaluate(measured((8, "front"), (6.5, "front")), T, FACTOR_OF)
    assert (even.difference_cm, even.asymmetric, even.stiffer_leg) == (1.5, False, None)
    uneven = evaluate(measured((8, "front"), (6.4, "calf")), T, FACTOR_OF)
    assert (uneven.difference_cm, uneven.asymmetric, uneven.stiffer_leg) == (1.6, True, Leg.RIGHT)
    assert uneven.factors == ("joint", "muscle-neural")


def test_unfinished_draft_cannot_be_scored() -> None:
    with pytest.raises(WrongStep):
        evaluate(Draft(), T, FACTOR_OF)


def test_knowledge_maps_every_location_the_article_names(knowledge: Knowledge) -> None:
    assert knowledge.factor_of == {
        "front": "joint",
        "achilles": "tendon",
        "calf": "muscle-neural",
        "shin": "shin",
        "none": None,
    }
    assert knowledge.thresholds.target_cm == 8.0
