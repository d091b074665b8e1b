"""Inline SVG charts for the evaluation report: paired bar charts and heat maps, no dependency.

Every function returns one `<svg>` element as text, sized in pixels, with `<title>` tooltips on its
marks so a reader can hover for the exact value.
"""

from __future__ import annotations

from html import escape
from typing import List, Optional, Sequence

REAL_COLOUR = "#1f77b4"
SYNTHETIC_COLOUR = "#ff7f0e"
MAX_LABEL_CHARS = 14
FONT = "font-family='sans-serif'"


def _label(text: object) -> str:
    text = str(text)
    return escape(text if len(text) <= MAX_LABEL_CHARS else text[: MAX_LABEL_CHARS - 1] + "\u2026")


def _number(value: Optional[float]) -> float:
    return 0.0 if value is None else float(value)


def paired_bars(
    labels: Sequence[object],
    real: Sequence[Optional[float]],
    synthetic: Sequence[Optional[float]],
    title: str,
    width: int = 420,
    height: int = 240,
) -> str:
    """Grouped bars, real and synthetic side by side per label (probabilities or shares)."""
    n = max(1, len(labels))
    left, right, top, bottom = 40, 10, 30, 70
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [_number(v) for v in list(real) + list(synthetic)]
    peak = max(values + [1e-12])
    group = plot_w / n
    bar = max(1.0, group * 0.4)
    parts: List[str] = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart bars' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}'>",
        f"<text x='{left}' y='16' font-size='13' {FONT}>{escape(title)}</text>",
        f"<line x1='{left}' y1='{top + plot_h}' x2='{left + plot_w}' y2='{top + plot_h}' stroke='#444'/>",
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{top + plot_h}' stroke='#444'/>",
    ]
    for tick in (0.0, 0.5, 1.0):
        y = top + plot_h - tick * plot_h
        parts.append(
            f"<text x='{left - 4}' y='{y + 4:.1f}' text-anchor='end' font-size='10' {FONT}>{tick * peak:.2f}</text>"
        )
    for index, label in enumerate(labels):
        x0 = left + index * group + group * 0.1
        for offset, (values_, colour, side) in enumerate(
            ((real, REAL_COLOUR, "real"), (synthetic, SYNTHETIC_COLOUR, "synthetic"))
        ):
            value = _number(values_[index] if index < len(values_) else None)
            h = value / peak * plot_h
            parts.append(
                f"<rect class='bar {side}' x='{x0 + offset * bar:.1f}' y='{top + plot_h - h:.1f}' "
                f"width='{bar:.1f}' height='{h:.1f}' fill='{colour}'>"
                f"<title>{escape(str(label))} ({side}): {value:.4f}</title></rect>"
            )
        if n <= 30 or index % max(1, n // 30) == 0:
            cx, cy = x0 + bar, top + plot_h + 8
            parts.append(
                f"<text x='{cx:.1f}' y='{cy:.1f}' font-size='9' {FONT} text-anchor='end' "
                f"transform='rotate(-45 {cx:.1f} {cy:.1f})'>{_label(label)}</text>"
            )
    parts.append(_legend(width - right - 120, 16))
    parts.append("</svg>")
    return "".join(parts)


def _legend(x: float, y: float) -> str:
    return (
        f"<rect x='{x}' y='{y - 9}' width='10' height='10' fill='{REAL_COLOUR}'/>"
        f"<text x='{x + 14}' y='{y}' font-size='11' {FONT}>real</text>"
        f"<rect x='{x + 50}' y='{y - 9}' width='10' height='10' fill='{SYNTHETIC_COLOUR}'/>"
        f"<text x='{x + 64}' y='{y}' font-size='11' {FONT}>synthetic</text>"
    )


def _heat_colour(value: float) -> str:
    """White (0) to dark blue (1)."""
    value = min(1.0, max(0.0, value))
    r = int(round(255 - value * (255 - 8)))
    g = int(round(255 - value * (255 - 48)))
    b = int(round(255 - value * (255 - 107)))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(matrix: Sequence[Sequence[Optional[float]]], labels: Sequence[str], title: str, cell: int = 0) -> str:
    """A square heat map of values in [0, 1] (normalised mutual information), labelled rows and columns."""
    n = max(1, len(labels))
    cell = cell or max(10, min(36, 360 // n))
    margin = 8 + 6 * min(MAX_LABEL_CHARS, max((len(str(label)) for label in labels), default=1))
    top = margin + 24
    width, height = margin + n * cell + 10, top + n * cell + 10
    parts: List[str] = [
        f"<svg xmlns='http://www.w3.org/2000/svg' class='chart heatmap' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}' role='img' aria-label='{escape(title)}'>",
        f"<text x='{width / 2:.1f}' y='16' text-anchor='middle' font-size='13' {FONT}>{escape(title)}</text>",
    ]
    for i, label in enumerate(labels):
        y = top + i * cell + cell / 2 + 4
        parts.append(
            f"<text x='{margin - 4}' y='{y:.1f}' text-anchor='end' font-size='10' {FONT}>{_label(label)}</text>"
        )
        x = margin + i * cell + cell / 2
        parts.append(
            f"<text x='{x:.1f}' y='{top - 4}' font-size='10' {FONT} transform='rotate(-60 {x:.1f} {top - 4})'>"
            f"{_label(label)}</text>"
        )
        for j in range(len(labels)):
            value = _number(matrix[i][j])
            parts.append(
                f"<rect class='cell' x='{margin + j * cell}' y='{top + i * cell}' width='{cell}' height='{cell}' "
                f"fill='{_heat_colour(value)}' stroke='#fff' stroke-width='0.5'>"
                f"<title>{escape(str(label))} / {escape(str(labels[j]))}: {value:.3f}</title></rect>"
            )
    parts.append("</svg>")
    return "".join(parts)


def score_gauge(score: Optional[float], width: int = 160, height: int = 18) -> str:
    """A horizontal bar filled to `score` in [0, 1] (red below 0.5, amber below 0.8, green above)."""
    if score is None:
        return "<span class='na'>n/a</span>"
    value = min(1.0, max(0.0, float(score)))
    colour = "#d62728" if value < 0.5 else "#e8a317" if value < 0.8 else "#2ca02c"
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' class='gauge' width='{width}' height='{height}' "
        f"viewBox='0 0 {width} {height}'>"
        f"<rect x='0' y='0' width='{width}' height='{height}' fill='#eee'/>"
        f"<rect class='fill' x='0' y='0' width='{value * width:.1f}' height='{height}' fill='{colour}'/>"
        f"<text x='{width - 4}' y='{height - 5}' text-anchor='end' font-size='11' {FONT}>{value:.3f}</text></svg>"
    )
