"""Draw a user's knee-to-wall results over time as a PNG for Telegram.

matplotlib is imported inside `progress_chart`, not at module level: importing it costs about
0.3-0.6 s (more on the very first run, when it builds its font cache), and every bot start and
test run would pay that for a picture most updates never ask for. The first chart pays it once;
later charts find it in sys.modules. Drawing uses `Figure` with the Agg canvas directly, never
pyplot, so there is no global figure state and no display backend to pick.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.axes import Axes

LEFT_COLOUR = "#1f77b4"
RIGHT_COLOUR = "#e8710a"
BOTH_COLOUR = "#7b3fa0"
TARGET_COLOUR = "#2e7d32"
MIN_TOP_CM = 15.0  # a fixed span, so 1 cm never fills the chart and looks like a leap
MIN_SPAN = timedelta(days=14)  # one test, or two on the same day, still get a sensible axis
SIDE_BY_SIDE = timedelta(hours=6)  # on a single date, keeps the legs' noise bars apart
SIZE_IN = (8.0, 5.0)
DPI = 100  # 800 x 500 px: sharp on a phone, small to send
FONT = 13


@dataclass(frozen=True)
class TestPoint:
    """One test; `when` is shown as its wall-clock date, so pass it in the user's time zone."""

    __test__ = False  # not a pytest test class, despite the name

    when: datetime
    left_cm: float
    right_cm: float
    same_for_both: bool


def progress_chart(
    tests: Sequence[TestPoint],
    *,
    target_cm: float,
    noise_cm: float,
    title: str = "Knee-to-wall progress",
) -> bytes:
    """Both legs over time, each with a ±noise band so a change inside it reads as no change."""
    if not tests:
        raise ValueError("a progress chart needs at least one test")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    tests = sorted(tests, key=lambda t: t.when.replace(tzinfo=None))
    days = [t.when.replace(tzinfo=None) for t in tests]
    apart = [not t.same_for_both for t in tests]
    lefts, rights = [t.left_cm for t in tests], [t.right_cm for t in tests]
    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()

    if not any(apart):
        _leg(ax, days, lefts, noise_cm, [True] * len(tests), "both legs", BOTH_COLOUR, "D")
    else:
        _leg(ax, days, lefts, noise_cm, apart, "left", LEFT_COLOUR, "o", -SIDE_BY_SIDE)
        _leg(ax, days, rights, noise_cm, apart, "right", RIGHT_COLOUR, "s", SIDE_BY_SIDE)
        if not all(apart):
            both = [(d, cm) for d, cm, a in zip(days, lefts, apart, strict=True) if not a]
            ax.plot(*zip(*both, strict=True), "D", color=BOTH_COLOUR, ms=8, label="both legs")

    ax.axhline(target_cm, color=TARGET_COLOUR, linestyle="--", linewidth=1.5, zorder=1)
    ax.annotate(
        f"target {_cm(target_cm)} cm",
        (0, target_cm),
        xycoords=("axes fraction", "data"),
        xytext=(4, 3),
        textcoords="offset points",
        color=TARGET_COLOUR,
        fontsize=FONT - 1,
        bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.7, "pad": 1},
        zorder=1,  # under the data, which matters more
    )

    ax.set_ylim(0, _top_cm(max(lefts + rights), target_cm, noise_cm))
    _date_axis(ax, days)
    ax.set_ylabel("toe to wall (cm)", fontsize=FONT)
    ax.set_title(title, fontsize=FONT + 3)
    ax.tick_params(labelsize=FONT - 1)
    ax.grid(axis="y", alpha=0.3)
    handles, _ = ax.get_legend_handles_labels()
    noise = Patch(color="grey", alpha=0.25, label=f"±{_cm(noise_cm)} cm: measurement noise")
    handles.append(noise)  # below the plot, where it can never hide a point
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=FONT - 2)

    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _leg(
    ax: Axes,
    days: list[datetime],
    cms: list[float],
    noise_cm: float,
    marked: list[bool],
    label: str,
    colour: str,
    marker: str,
    shift: timedelta = timedelta(0),
) -> None:
    """Line with a ±noise band; unmarked points get a single 'both legs' marker elsewhere."""
    if days[0] != days[-1]:
        low = [cm - noise_cm for cm in cms]
        high = [cm + noise_cm for cm in cms]
        ax.fill_between(days, low, high, color=colour, alpha=0.15, linewidth=0, zorder=0)
    else:  # a band over one date has no width: show the noise as a wide bar, legs side by side
        days = [d + shift for d in days]
        ax.errorbar(days, cms, yerr=noise_cm, fmt="none", ecolor=colour, alpha=0.25, elinewidth=8)
    ax.plot(
        days,
        cms,
        "-" + marker,
        markevery=[i for i, m in enumerate(marked) if m],
        color=colour,
        linewidth=2,
        markersize=7,
        label=label,
        zorder=2,
    )


def _date_axis(ax: Axes, days: list[datetime]) -> None:
    """Pad short ranges to two weeks; ticks on Mondays or month starts, so their gaps are even.

    Labels read '3 Nov', with the year under them when the tests span a new year.
    """
    from matplotlib.dates import MO, AutoDateLocator, WeekdayLocator, num2date
    from matplotlib.ticker import FuncFormatter

    first, last = days[0], days[-1]
    pad = max((MIN_SPAN - (last - first)) / 2, (last - first) / 20)
    ax.set_xlim(first - pad, last + pad)
    weeks = (last - first + 2 * pad) / timedelta(weeks=1)
    if first.date() == last.date():  # one test day: its date is the only one worth a label
        ax.set_xticks([first])
    elif weeks <= 10:
        ax.xaxis.set_major_locator(WeekdayLocator(MO, interval=math.ceil(weeks / 6)))
    else:
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=3, maxticks=7))
    with_year = first.year != last.year

    def label(x: float, _pos: int | None = None) -> str:
        d = num2date(x)
        return f"{d.day} {d:%b}" + (f"\n{d.year}" if with_year else "")

    ax.xaxis.set_major_formatter(FuncFormatter(label))


def _top_cm(highest: float, target_cm: float, noise_cm: float) -> float:
    """Never zoom in: a fixed 0-15 cm unless the data, its noise band or the target need more."""
    return max(MIN_TOP_CM, math.ceil(highest + noise_cm + 1.5), math.ceil(target_cm + 3))


def _cm(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")
