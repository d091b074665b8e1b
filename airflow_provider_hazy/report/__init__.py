"""The evaluation report: self-contained HTML with inline SVG plots (`hazy report`)."""

from .html import load_evaluation, render_report, write_report

__all__ = ["load_evaluation", "render_report", "write_report"]
