"""PNG charts (matplotlib's Agg renderer through Figure objects: no pyplot state, no
display). Width is fixed; height grows with the rows, so a chart stays readable on a phone
and the size is known: `chart_size(rows)`."""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from bot.texts import records as t

DPI = 100
WIDTH_IN = 10.0
BASE_IN, ROW_IN = 1.6, 0.4
RED, GREEN, GREY = "#c0392b", "#2e8b57", "#9e9e9e"


def chart_size(rows: int) -> tuple[int, int]:
    """(width, height) in pixels of a chart with this many bars."""
    return int(WIDTH_IN * DPI), round((BASE_IN + ROW_IN * max(rows, 1)) * DPI)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float  # working minutes (riwayat) or percent of the standard (rekap)
    standard: float | None  # where the standard's mark goes (riwayat), None: a 100% line
    late: bool
    open: bool = False


def _figure(rows: int) -> Figure:
    width, height = chart_size(rows)
    return Figure(figsize=(width / DPI, height / DPI), dpi=DPI)


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    out = BytesIO()
    fig.savefig(out, format="png", dpi=DPI)  # no tight bbox: the size stays as promised
    return out.getvalue()


def _colour(bar: Bar) -> str:
    return GREY if bar.open else (RED if bar.late else GREEN)


def timeline_png(title: str, bars: list[Bar]) -> bytes:
    """Riwayat: a bar of actual working time per step activation (top: first step) with the
    SOP's standard marked; over the standard in red. Log scale: 5 minutes and 5 days on
    one chart."""
    fig = _figure(len(bars))
    ax = fig.add_axes((0.34, 0.1, 0.63, 0.8))
    _place(fig, ax, len(bars))
    hours = [max(b.value / 60.0, 1 / 60) for b in bars]
    ys = list(range(len(bars)))[::-1]
    ax.barh(ys, hours, color=[_colour(b) for b in bars], height=0.6)
    standards = [(y, b.standard / 60.0) for y, b in zip(ys, bars, strict=True) if b.standard]
    if standards:
        ax.scatter(
            [s for _, s in standards], [y for y, _ in standards], marker="|", s=300, color="black"
        )
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(_hours_label))
    ax.set_yticks(ys, [b.label for b in bars], fontsize=8)
    ax.set_xlabel(t.CHART_X, fontsize=8)
    fig.suptitle(title, fontsize=10, x=0.02, ha="left")
    ax.legend(
        handles=[
            Patch(color=GREEN, label=t.CHART_ON_TIME),
            Patch(color=RED, label=t.CHART_LATE),
            Patch(color=GREY, label=t.CHART_OPEN),
            Patch(color="black", label=t.CHART_STANDARD),
        ],
        fontsize=7,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=4,
        frameon=False,
    )
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def recap_png(title: str, bars: list[Bar]) -> bytes:
    """Rekap: the median working time of each step as a percentage of its standard, with
    the 100% line; over 100% in red."""
    fig = _figure(len(bars))
    ax = fig.add_axes((0.34, 0.1, 0.63, 0.8))
    _place(fig, ax, len(bars))
    ys = list(range(len(bars)))[::-1]
    ax.barh(ys, [max(b.value, 0.1) for b in bars], color=[_colour(b) for b in bars], height=0.6)
    ax.axvline(100, color="black", linewidth=1)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}%"))
    ax.set_yticks(ys, [b.label for b in bars], fontsize=8)
    ax.set_xlabel(t.REKAP_CHART_X, fontsize=8)
    ax.set_title(title, fontsize=10, loc="left")
    ax.grid(axis="x", alpha=0.3)
    return _png(fig)


def _place(fig: Figure, ax, rows: int) -> None:  # type: ignore[no-untyped-def]
    """Fixed margins in inches (title on top, axis label below), whatever the height."""
    height = BASE_IN + ROW_IN * max(rows, 1)
    bottom, top = 0.75 / height, 0.5 / height
    ax.set_position((0.34, bottom, 0.63, 1 - bottom - top))
    if not rows:
        ax.set_yticks([])


def _hours_label(value: float, _pos: int) -> str:
    if value < 1:
        return f"{value * 60:.0f} mnt"
    return f"{value:g} j"
