"""PNG bar charts of a leaderboard: one chart per task family, one panel per task.

Each bar is a row's headline value; the row label names the model (and its configuration when
several are kept) with the number of evaluated samples, `n`. Whiskers, where a result has them,
are its 95% percentile-bootstrap interval, and the axis label says so. Value labels sit at the end
of the bar (inside it when it is long enough), never at the end of a whisker, so they read as the
value and not as the upper bound.
"""

from __future__ import annotations

import io
from typing import Any, Protocol

# A bar shorter than this share of the axis gets its label outside, just past its end.
_INSIDE_SHARE = 0.3


class PlotRow(Protocol):
    label: str
    n: Any
    metrics: dict[str, float | None]
    ci: dict[str, tuple[float, float]]


def plot_family(family: str, panels: list[tuple[str, str, list[Any]]]) -> bytes:
    """PNG bytes: one horizontal bar chart per `(title, headline, ranked rows)` panel."""
    # Figure + Agg canvas directly, not pyplot: no global backend switch in the caller's process.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heights = [1.3 + 0.35 * max(len(rows), 1) for _, _, rows in panels]
    fig = Figure(figsize=(9, sum(heights) + 0.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, squeeze=False, gridspec_kw={"height_ratios": heights})
    for ax, (title, headline, rows) in zip(axes[:, 0], panels, strict=True):
        _bars(ax, title, headline, rows)
    fig.suptitle(f"{family}: headline metric per task")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _bars(ax: Any, title: str, headline: str, rows: list[PlotRow]) -> None:
    ranked = [r for r in rows if r.metrics.get(headline) is not None]
    ax.set_title(title, fontsize=10, loc="left")
    if not ranked:
        ax.set_xlabel(headline)
        ax.text(0.5, 0.5, f"no {headline} values", ha="center", va="center")
        ax.set_yticks([])
        return
    values = [float(r.metrics[headline]) for r in ranked]  # type: ignore[arg-type]
    positions = list(range(len(ranked)))
    ax.barh(positions, values, color="#4C72B0")
    with_ci = [i for i, r in enumerate(ranked) if headline in r.ci]
    if with_ci:
        lower = [max(values[i] - ranked[i].ci[headline][0], 0.0) for i in with_ci]
        upper = [max(ranked[i].ci[headline][1] - values[i], 0.0) for i in with_ci]
        ax.errorbar(
            [values[i] for i in with_ci],
            with_ci,
            xerr=[lower, upper],
            fmt="none",
            ecolor="black",
            capsize=3,
        )
        ax.set_xlabel(f"{headline} (whiskers: 95% bootstrap interval)")
    else:
        ax.set_xlabel(headline)
    ax.set_yticks(positions, [f"{r.label} (n={r.n})" for r in ranked], fontsize=8)
    ax.invert_yaxis()  # best at the top
    ax.margins(x=0.15)
    right = max(max(values), *(r.ci[headline][1] for r in ranked if headline in r.ci), 0.0)
    for pos, value in zip(positions, values, strict=True):
        # Below the bar's centre line, where a whisker runs (the y axis points down).
        if right > 0 and value >= _INSIDE_SHARE * right:
            ax.text(
                value,
                pos + 0.22,
                f"{value:.4f} ",
                ha="right",
                va="center",
                fontsize=7,
                color="white",
            )
        else:
            ax.text(value, pos + 0.22, f" {value:.4f}", ha="left", va="center", fontsize=7)
