"""The evaluation report: one self-contained HTML file (inline CSS and SVG, no script, no external asset).

`render_report(evaluation)` takes an evaluation dict as training stores it in the model (manifest
`evaluation`) or as `hazy evaluate` writes it; `load_evaluation(path)` reads one from a model file, an
evaluation JSON or `hazy inspect --json` output.
"""

from __future__ import annotations

import json
import zipfile
from html import escape
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..metrics.results import PRIVACY_NOTE, metric_results
from ..model_file import read_manifest
from ..pipeline.evaluation_file import read_detail
from . import svg

MEANINGS = {
    "histogram_similarity": "How much of each column's real histogram the synthetic histogram covers "
    "(sum over bins of the smaller of the two shares). 1: identical distributions; 0: disjoint.",
    "mutual_information_similarity": "Whether each pair of columns is as dependent in the synthetic data as "
    "in the real: 1 - |NMI real - NMI synthetic| per pair. Low scores mean relationships were lost or invented.",
    "cross_table_mutual_information_similarity": "The same as mutual information similarity, for a parent "
    "column against a child column across a foreign-key join.",
    "degree_distribution_similarity": "Whether each parent row has as many child rows as in the real data: "
    "1 - total variation distance between the degree distributions.",
    "sequence_similarity": "Sequential tables as histories: rows per owner (length), time between consecutive "
    "rows (gap, 10 quantile bins of the real gaps), lag-1 autocorrelation of numeric columns, and the transition "
    "matrix of category columns (1 - mean TVD of its rows). 1: histories behave like the real ones.",
    "predictive_utility": "A model trained on synthetic rows and tested on held-out real rows, as a ratio to "
    "the same model trained on real rows (macro F1 for categories, R\u00b2 for numbers). "
    "1: as useful as the real data.",
    "presence_disclosure": "Membership inference: can an attacker holding the synthetic data tell training rows "
    "from unseen real rows by their distance to it? 1: no better than a coin toss (AUC 0.5); 0: perfectly.",
    "density_disclosure": "Does synthetic data crowd around training rows more than around unseen real rows? "
    "1: as near unseen rows as seen ones; 0: every synthetic row is nearer a training row.",
    "distance_to_closest_record": "Do synthetic rows come closer to training rows than unseen real rows "
    "naturally do (5th percentile of their distances)? 1: no closer; 0: as close as copies.",
}
PRIVACY_METRICS = ("presence_disclosure", "density_disclosure", "distance_to_closest_record")

CSS = """
body{font-family:sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin-bottom:4px} h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:32px}
.note{background:#fff4e5;border-left:4px solid #e8a317;padding:8px 12px;margin:12px 0}
table{border-collapse:collapse;margin:8px 0} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;
vertical-align:middle} th{background:#f4f4f4}
.grid{display:flex;flex-wrap:wrap;gap:12px} .pair{display:flex;gap:24px;flex-wrap:wrap}
figure{margin:0;border:1px solid #eee;padding:4px} figcaption{font-size:12px;color:#555}
.meaning{color:#444;font-size:14px} .skipped{color:#888;font-style:italic}
"""


def load_evaluation(path: str | Path) -> Tuple[Dict[str, Any], str]:
    """(evaluation dict, a title) from a model file (.hmf), an evaluation JSON or `hazy inspect --json`."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        manifest = read_manifest(path)
        evaluation = read_detail(path) or manifest.get("evaluation")  # the detail file beside the model
        if not evaluation:
            raise ValueError(f"{path}: the model holds no evaluation (evaluation was null or had no metrics)")
        return evaluation, manifest.get("title") or path.name
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: neither a model file nor evaluation JSON: {error}") from error
    if isinstance(data, dict) and "evaluation" in data and not metric_results(data):
        data = data["evaluation"]
    if not isinstance(data, dict) or not metric_results(data):
        raise ValueError(f"{path}: holds no metric results (keyed by metric_type, each with a score)")
    return data, path.name


def _score_text(score: Optional[float]) -> str:
    return "n/a" if score is None else f"{score:.3f}"


def _skipped(entry: Dict[str, Any]) -> str:
    return f"<p class='skipped'>skipped: {escape(str(entry['skipped']))}</p>" if entry.get("skipped") else ""


def _summary(results: Dict[str, Dict[str, Any]]) -> str:
    rows = [
        f"<tr><td>{escape(key)}</td><td>{svg.score_gauge(entry.get('score'))}</td>"
        f"<td class='meaning'>{escape(MEANINGS.get(entry['metric_type'], ''))}"
        f"{' (skipped: ' + escape(str(entry['skipped'])) + ')' if entry.get('skipped') else ''}</td></tr>"
        for key, entry in results.items()
    ]
    return "<table><tr><th>metric</th><th>score (1 best)</th><th>what it means</th></tr>" + "".join(rows) + "</table>"


def _figure(chart: str, caption: str = "") -> str:
    return f"<figure>{chart}{f'<figcaption>{escape(caption)}</figcaption>' if caption else ''}</figure>"


def _histograms(entry: Dict[str, Any]) -> str:
    out = []
    for table, details in entry.get("tables", {}).items():
        out.append(f"<h3>table {escape(table)}: {_score_text(details.get('score'))}</h3>{_skipped(details)}")
        figures = [
            _figure(
                svg.paired_bars(column["bins"], column["real"], column["synthetic"], f"{name}: {column['score']:.3f}")
            )
            for name, column in details.get("columns", {}).items()
            if "bins" in column
        ]
        out.append(f"<div class='grid'>{''.join(figures)}</div>")
    return "".join(out)


def _mutual_information(entry: Dict[str, Any]) -> str:
    out = []
    for table, details in entry.get("tables", {}).items():
        out.append(f"<h3>table {escape(table)}: {_score_text(details.get('score'))}</h3>{_skipped(details)}")
        matrix = details.get("matrix")
        if matrix and len(matrix["columns"]) > 1:
            columns = matrix["columns"]
            out.append(
                "<div class='pair'>"
                + _figure(svg.heatmap(matrix["real"], columns, f"real NMI ({table})"), "normalised mutual information")
                + _figure(svg.heatmap(matrix["synthetic"], columns, f"synthetic NMI ({table})"), "0 white, 1 dark")
                + "</div>"
            )
    return "".join(out)


def _foreign_keys(entry: Dict[str, Any], draw) -> str:
    out = []
    for table, details in entry.get("tables", {}).items():
        out.append(f"<h3>table {escape(table)}: {_score_text(details.get('score'))}</h3>")
        figures = []
        for fk, fk_entry in details.get("foreign_keys", {}).items():
            if fk_entry.get("skipped"):
                figures.append(f"<p class='skipped'>{escape(fk)}: {escape(str(fk_entry['skipped']))}</p>")
            else:
                figures.append(draw(table, fk, fk_entry))
        out.append(f"<div class='grid'>{''.join(figures)}</div>")
    return "".join(out)


def _degree_figure(table: str, fk: str, entry: Dict[str, Any]) -> str:
    title = f"{table}.{fk} -> {entry['parent']}: {_score_text(entry['score'])}"
    chart = svg.paired_bars(entry["bins"], entry["real"], entry["synthetic"], title, width=520)
    return _figure(chart, "children per parent row")


def _cross_figure(table: str, fk: str, entry: Dict[str, Any]) -> str:
    pairs = entry.get("pairs", {})
    labels = list(pairs)
    title = f"{table}.{fk} -> {entry['parent']}: {_score_text(entry['score'])}"
    chart = svg.paired_bars(
        labels, [pairs[k]["real_nmi"] for k in labels], [pairs[k]["synthetic_nmi"] for k in labels], title, width=520
    )
    return _figure(chart, "NMI per (parent column | child column) pair")


def _sequences(entry: Dict[str, Any]) -> str:
    out = []
    for table, details in entry.get("tables", {}).items():
        out.append(f"<h3>table {escape(table)}: {_score_text(details.get('score'))}</h3>")
        if details.get("skipped"):
            out.append(f"<p class='skipped'>{escape(str(details['skipped']))}</p>")
            continue
        figures = []
        length = details.get("length", {})
        if length.get("bins"):
            title = f"rows per owner: {_score_text(length.get('score'))}"
            chart = svg.paired_bars(length["bins"], length["real"], length["synthetic"], title, width=520)
            figures.append(_figure(chart))
        gap = details.get("gap", {})
        if gap.get("bins"):
            title = f"gap of {gap['column']} ({gap.get('unit')}): {_score_text(gap.get('score'))}"
            chart = svg.paired_bars(gap["bins"], gap["real"], gap["synthetic"], title, width=520)
            figures.append(_figure(chart, "10 quantile bins of the real gaps"))
        for column, item in details.get("transitions", {}).get("columns", {}).items():
            if item.get("states"):
                for side in ("real", "synthetic"):
                    title = f"{column}: P(next | value), {side} ({_score_text(item.get('score'))})"
                    figures.append(_figure(svg.heatmap(item[side], item["states"], title)))
        out.append(f"<div class='grid'>{''.join(figures)}</div>")
        columns = details.get("autocorrelation", {}).get("columns", {})
        if columns:
            rows = "".join(
                f"<tr><td>{escape(name)}</td><td>{_number_text(item.get('real'))}</td>"
                f"<td>{_number_text(item.get('synthetic'))}</td><td>{_score_text(item.get('score'))}</td></tr>"
                for name, item in columns.items()
            )
            out.append(
                "<table><tr><th>column</th><th>lag-1 autocorrelation, real</th><th>synthetic</th><th>score</th></tr>"
                + rows
                + "</table>"
            )
    return "".join(out)


def _number_text(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:.3f}"


def _utility(entry: Dict[str, Any]) -> str:
    rows = []
    for table, details in entry.get("tables", {}).items():
        for target, item in details.get("targets", {}).items():
            rows.append(
                f"<tr><td>{escape(table)}</td><td>{escape(target)}</td><td>{escape(str(item.get('task', '')))}</td>"
                f"<td>{escape(str(item.get('measure', '')))}</td><td>{_score_text(item.get('real_score'))}</td>"
                f"<td>{_score_text(item.get('synthetic_score'))}</td><td>{svg.score_gauge(item.get('score'))}</td></tr>"
            )
    head = "<tr><th>table</th><th>target</th><th>task</th><th>measure</th><th>trained on real</th>"
    return f"<table>{head}<th>trained on synthetic</th><th>ratio</th></tr>{''.join(rows)}</table>"


def _figures_of(item: Dict[str, Any]) -> str:
    shown = {k: v for k, v in item.items() if k not in ("score",) and not isinstance(v, (list,))}
    return escape(json.dumps(shown, default=str))


def _privacy(key: str, entry: Dict[str, Any]) -> str:
    rows = [
        f"<tr><td>{escape(table)}</td><td>{svg.score_gauge(item.get('score'))}</td>"
        f"<td style='font-size:12px'>{_figures_of(item)}</td></tr>"
        for table, item in entry.get("tables", {}).items()
    ]
    return (
        f"<h3>{escape(key)}: {_score_text(entry.get('score'))}</h3>"
        f"<p class='meaning'>{escape(MEANINGS.get(entry['metric_type'], ''))}</p>{_skipped(entry)}"
        f"<table><tr><th>table</th><th>score</th><th>figures</th></tr>{''.join(rows)}</table>"
    )


def render_report(evaluation: Dict[str, Any], title: str = "Synthetic data evaluation") -> str:
    """The report page as one HTML string."""
    results = metric_results(evaluation)
    note = evaluation.get("privacy_note") or PRIVACY_NOTE
    sections: List[str] = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{CSS}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='note'><b>Outside the privacy budget.</b> {escape(note)}</p>",
    ]
    if evaluation.get("sample_rows"):
        sizes = ", ".join(f"{escape(k)}: {v}" for k, v in evaluation["sample_rows"].items())
        sections.append(f"<p>synthetic rows scored: {sizes}</p>")
    order = list(MEANINGS)
    results = dict(sorted(results.items(), key=lambda item: order.index(item[1]["metric_type"])))
    sections += ["<h2>Scores</h2>", _summary(results)]
    titles = {
        "histogram_similarity": ("Histograms, real vs synthetic", _histograms),
        "mutual_information_similarity": ("Mutual information, real and synthetic", _mutual_information),
        "degree_distribution_similarity": (
            "Degree distributions",
            lambda entry: _foreign_keys(entry, _degree_figure),
        ),
        "cross_table_mutual_information_similarity": (
            "Cross-table mutual information",
            lambda entry: _foreign_keys(entry, _cross_figure),
        ),
        "sequence_similarity": ("Sequences", _sequences),
        "predictive_utility": ("Predictive utility", _utility),
    }
    for key, entry in results.items():
        kind = entry["metric_type"]
        if kind in titles:
            heading, draw = titles[kind]
            sections.append(f"<h2>{escape(heading)} ({escape(key)}: {_score_text(entry.get('score'))})</h2>")
            sections.append(f"<p class='meaning'>{escape(MEANINGS[kind])}</p>")
            sections.append(_skipped(entry) or draw(entry))
    privacy = [(key, entry) for key, entry in results.items() if entry["metric_type"] in PRIVACY_METRICS]
    if privacy:
        sections.append("<h2>Privacy</h2>")
        sections += [_privacy(key, entry) for key, entry in privacy]
    sections.append("</body></html>")
    return "\n".join(sections)


def write_report(source: str | Path, output: str | Path) -> Path:
    """Render the report of a model file or evaluation JSON to `output`; returns its path."""
    evaluation, name = load_evaluation(source)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_report(evaluation, f"Evaluation: {name}"), encoding="utf-8")
    return output
