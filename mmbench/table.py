"""Plain-text tables for the terminal (no dependency: the CLI must start instantly)."""

from __future__ import annotations

from collections.abc import Sequence


def format_rows(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Left-aligned columns separated by two spaces, with a rule under the header."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def format_metrics(metrics: dict[str, float], ci: dict[str, list[float]] | None = None) -> str:
    """Metric name, value (4 decimals) and, when present, its 95% interval."""
    ci = ci or {}
    rows = []
    for name, value in metrics.items():
        interval = f"[{ci[name][0]:.4f}, {ci[name][1]:.4f}]" if name in ci else ""
        rows.append((name, f"{value:.4f}", interval))
    header = ("metric", "value", "95% CI") if ci else ("metric", "value")
    return format_rows(header, [r if ci else r[:2] for r in rows])
