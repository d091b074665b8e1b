"""Small server-side SVG charts for the registry pages: privacy against utility, scores, budget split.

Plain SVG strings (no JavaScript, no Node build); every label is escaped.
"""

from __future__ import annotations

import math
from html import escape
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
FONT = "font-family='sans-serif'"


def _x_scale(values: Sequence[float], left: float, width: float):
    low, high = min(values), max(values)
    logarithmic = low > 0 and high / low > 10
    if logarithmic:
        low, high = math.log10(low), math.log10(high)
    if high == low:
        low, high = low - 1, high + 1

    def position(value: float) -> float:
        value = math.log10(value) if logarithmic else value
        return left + (value - low) / (high - low) * width

    return position, logarithmic


def privacy_utility(
    points: Sequence[Tuple[str, float, Mapping[str, Optional[float]]]],
    width: int = 720,
    height: int = 320,
) -> str:
    """Each metric's score (y, 0..1) against epsilon (x) over a version's models; one line per
    (synthesiser, metric). `points`: (synthesiser, epsilon, {metric: score})."""
    series: Dict[Tuple[str, str], List[Tuple[float, float]]] = {}
    for synthesiser, epsilon, scores in points:
        for metric, score in scores.items():
            if score is not None:
                series.setdefault((synthesiser, metric), []).append((epsilon, float(score)))
    left, top, right, bottom = 56, 28, 260, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart privacy-utility' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='privacy against utility'>",
        f"<text x='{left}' y='16' {FONT} font-size='13' font-weight='bold'>Utility against privacy budget</text>",
    ]
    if not series:
        parts.append(f"<text x='{left}' y='{top + 40}' {FONT} font-size='12'>no evaluation scores stored</text></svg>")
        return "".join(parts)
    epsilons = sorted({epsilon for values in series.values() for epsilon, _ in values})
    x_of, logarithmic = _x_scale(epsilons, left + 10, plot_w - 20)

    def y_of(score: float) -> float:
        return top + (1 - max(0.0, min(1.0, score))) * plot_h

    parts.append(
        f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#999' stroke-width='1'/>"
    )
    for tick in (0, 0.25, 0.5, 0.75, 1.0):
        y = y_of(tick)
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eee'/>")
        parts.append(f"<text x='{left - 6}' y='{y + 4:.1f}' {FONT} font-size='11' text-anchor='end'>{tick:g}</text>")
    for epsilon in epsilons:
        x = x_of(epsilon)
        parts.append(
            f"<text x='{x:.1f}' y='{top + plot_h + 16}' {FONT} font-size='11' text-anchor='middle'>{epsilon:g}</text>"
        )
    axis = "epsilon (log scale)" if logarithmic else "epsilon"
    parts.append(
        f"<text x='{left + plot_w / 2:.1f}' y='{height - 8}' {FONT} font-size='12' text-anchor='middle'>"
        f"{axis}: smaller is more private</text>"
    )
    parts.append(
        f"<text x='14' y='{top + plot_h / 2:.1f}' {FONT} font-size='12' text-anchor='middle' "
        f"transform='rotate(-90 14 {top + plot_h / 2:.1f})'>score</text>"
    )
    for index, ((synthesiser, metric), values) in enumerate(sorted(series.items())):
        colour = PALETTE[index % len(PALETTE)]
        values = sorted(values)
        coordinates = " ".join(f"{x_of(e):.1f},{y_of(s):.1f}" for e, s in values)
        parts.append(
            f"<polyline class='series' data-metric='{escape(metric, True)}' points='{coordinates}' fill='none' "
            f"stroke='{colour}' stroke-width='2'/>"
        )
        for epsilon, score in values:
            parts.append(
                f"<circle class='point' cx='{x_of(epsilon):.1f}' cy='{y_of(score):.1f}' r='4' fill='{colour}'>"
                f"<title>{escape(synthesiser)} {escape(metric)}: {score:.3f} at epsilon {epsilon:g}</title></circle>"
            )
        legend_y = top + 14 + index * 18
        label = metric if len({s for s, _ in series}) == 1 else f"{synthesiser}: {metric}"
        parts.append(
            f"<rect x='{left + plot_w + 12}' y='{legend_y - 9}' width='10' height='10' fill='{colour}'/>"
            f"<text x='{left + plot_w + 26}' y='{legend_y}' {FONT} font-size='11'>{escape(label[:40])}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(
    values: Mapping[str, Optional[float]], title: str, maximum: Optional[float] = 1.0, width: int = 420
) -> str:
    """One bar per label (a score in 0..1, or any non-negative value scaled to the largest)."""
    rows = [(label, value) for label, value in values.items()]
    height = 30 + 20 * max(1, len(rows))
    top = maximum or max([value or 0.0 for _, value in rows] + [1e-12])
    label_w, bar_w = 190, width - 190 - 60
    parts = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart bars' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title, True)}'>",
        f"<text x='0' y='14' {FONT} font-size='12' font-weight='bold'>{escape(title)}</text>",
    ]
    for index, (label, value) in enumerate(rows):
        y = 24 + index * 20
        parts.append(f"<text x='0' y='{y + 11}' {FONT} font-size='11'>{escape(str(label)[:30])}</text>")
        if value is None:
            parts.append(f"<text x='{label_w}' y='{y + 11}' {FONT} font-size='11' fill='#888'>n/a</text>")
            continue
        length = bar_w * max(0.0, min(1.0, value / top))
        parts.append(
            f"<rect class='bar' x='{label_w}' y='{y}' width='{length:.1f}' height='14' fill='{PALETTE[0]}'/>"
            f"<text x='{label_w + length + 4:.1f}' y='{y + 11}' {FONT} font-size='11'>{value:.3g}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
