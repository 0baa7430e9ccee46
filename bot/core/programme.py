"""Build a personal programme: the article's blocks in order, the user's focus marked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Block:
    id: str
    title: str
    purpose: str


@dataclass(frozen=True)
class Exercise:
    id: str
    block: str
    name: str
    dose: str
    equipment: str
    steps: tuple[str, ...]
    cautions: tuple[str, ...]
    targets: tuple[str, ...]
    only_for: tuple[str, ...]
    ground: bool
    source: str


@dataclass(frozen=True)
class Item:
    exercise: Exercise
    focus: bool


@dataclass(frozen=True)
class ProgrammeBlock:
    block: Block
    items: tuple[Item, ...]


@dataclass(frozen=True)
class Programme:
    blocks: tuple[ProgrammeBlock, ...]

    @property
    def focus(self) -> tuple[Exercise, ...]:
        return tuple(i.exercise for b in self.blocks for i in b.items if i.focus)


def build_programme(
    factors: Sequence[str], blocks: Sequence[Block], exercises: Sequence[Exercise]
) -> Programme:
    """Every block, in order; exercises that work on one of `factors` are the focus.

    Exercises with `only_for` (e.g. the shin release) join only when the user has that factor.
    """
    wanted = set(factors)
    result = []
    for block in blocks:
        items = tuple(
            Item(ex, focus=bool(wanted & set(ex.targets)))
            for ex in exercises
            if ex.block == block.id and (not ex.only_for or wanted & set(ex.only_for))
        )
        if items:
            result.append(ProgrammeBlock(block, items))
    return Programme(tuple(result))
