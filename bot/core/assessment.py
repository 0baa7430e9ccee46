"""The knee-to-wall assessment as a small state machine, and the rules that score it.

A `Draft` is the whole state of an unfinished assessment. It is immutable and serialisable so the
shell can keep it in the database and any bot instance can continue it. Every answer bumps `rev`,
which lets the shell reject a button that belongs to an earlier question.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class Leg(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    BOTH = "both"


class Step(StrEnum):
    MODE = "mode"
    DISTANCE = "distance"
    HEEL = "heel"
    FEEL = "feel"
    DONE = "done"


class WrongStep(Exception):
    """An answer arrived for a question that is not the current one."""


@dataclass(frozen=True)
class LegAnswer:
    cm: float | None = None
    raw: str | None = None
    heel_down: bool | None = None
    location: str | None = None
    invalid_attempts: int = 0


@dataclass(frozen=True)
class Draft:
    rev: int = 0
    step: Step = Step.MODE
    legs: tuple[Leg, ...] = ()
    current: int = 0
    answers: Mapping[Leg, LegAnswer] = field(default_factory=dict)

    @property
    def leg(self) -> Leg | None:
        return self.legs[self.current] if self.step not in (Step.MODE, Step.DONE) else None

    def _answer(self) -> LegAnswer:
        assert self.leg is not None
        return self.answers.get(self.leg, LegAnswer())

    def _advance(self, step: Step, answer: LegAnswer, current: int | None = None) -> Draft:
        assert self.leg is not None
        answers = {**self.answers, self.leg: answer}
        return replace(
            self,
            rev=self.rev + 1,
            step=step,
            answers=answers,
            current=self.current if current is None else current,
        )

    def _expect(self, step: Step) -> None:
        if self.step is not step:
            raise WrongStep(f"expected {step}, draft is at {self.step}")

    def choose_mode(self, same_for_both: bool) -> Draft:
        self._expect(Step.MODE)
        legs = (Leg.BOTH,) if same_for_both else (Leg.LEFT, Leg.RIGHT)
        return replace(self, rev=self.rev + 1, step=Step.DISTANCE, legs=legs, current=0)

    def give_distance(self, cm: float, raw: str) -> Draft:
        self._expect(Step.DISTANCE)
        return self._advance(Step.HEEL, replace(self._answer(), cm=cm, raw=raw))

    def confirm_heel(self, heel_down: bool) -> Draft:
        """A lifted heel voids the measurement: back to the distance question for this leg."""
        self._expect(Step.HEEL)
        answer = self._answer()
        if heel_down:
            return self._advance(Step.FEEL, replace(answer, heel_down=True))
        voided = replace(
            answer, cm=None, heel_down=None, invalid_attempts=answer.invalid_attempts + 1
        )
        return self._advance(Step.DISTANCE, voided)

    def choose_location(self, location: str) -> Draft:
        self._expect(Step.FEEL)
        answer = replace(self._answer(), location=location)
        if self.current + 1 < len(self.legs):
            return self._advance(Step.DISTANCE, answer, current=self.current + 1)
        return self._advance(Step.DONE, answer)

    def to_json(self) -> dict[str, Any]:
        return {
            "rev": self.rev,
            "step": self.step.value,
            "legs": [leg.value for leg in self.legs],
            "current": self.current,
            "answers": {leg.value: vars(a) for leg, a in self.answers.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Draft:
        return cls(
            rev=int(data["rev"]),
            step=Step(data["step"]),
            legs=tuple(Leg(v) for v in data["legs"]),
            current=int(data["current"]),
            answers={Leg(k): LegAnswer(**v) for k, v in data["answers"].items()},
        )


class Status(StrEnum):
    AT_TARGET = "at_target"
    NEAR_TARGET = "near_target"
    BELOW_TARGET = "below_target"


@dataclass(frozen=True)
class Thresholds:
    target_cm: float
    asymmetry_cm: float
    measurement_error_cm: float
    max_cm: float


@dataclass(frozen=True)
class LegResult:
    leg: Leg
    cm: float
    status: Status
    gap_cm: float
    location: str
    factor: str | None


@dataclass(frozen=True)
class Result:
    legs: tuple[LegResult, ...]
    difference_cm: float | None
    asymmetric: bool
    stiffer_leg: Leg | None
    factors: tuple[str, ...]

    @property
    def all_at_target(self) -> bool:
        return all(leg.status is Status.AT_TARGET for leg in self.legs)


def leg_status(cm: float, t: Thresholds) -> Status:
    """Short of the target by less than the test's own error is reported as 'near', not 'below'."""
    if cm >= t.target_cm:
        return Status.AT_TARGET
    if round(t.target_cm - cm, 1) < t.measurement_error_cm:  # distances are whole mm
        return Status.NEAR_TARGET
    return Status.BELOW_TARGET


def evaluate(draft: Draft, t: Thresholds, factor_of: Mapping[str, str | None]) -> Result:
    """Score a finished draft. `factor_of` maps a location id to its limiting factor (or None)."""
    if draft.step is not Step.DONE:
        raise WrongStep("the assessment is not finished")
    legs = []
    for leg in draft.legs:
        a = draft.answers[leg]
        assert a.cm is not None and a.location is not None
        gap = round(max(t.target_cm - a.cm, 0.0), 1)
        legs.append(
            LegResult(leg, a.cm, leg_status(a.cm, t), gap, a.location, factor_of[a.location])
        )
    difference = stiffer = None
    asymmetric = False
    if len(legs) == 2:
        difference = round(abs(legs[0].cm - legs[1].cm), 1)
        asymmetric = difference > t.asymmetry_cm
        if asymmetric:
            stiffer = min(legs, key=lambda r: r.cm).leg
    factors = tuple(dict.fromkeys(r.factor for r in legs if r.factor is not None))
    return Result(tuple(legs), difference, asymmetric, stiffer, factors)
