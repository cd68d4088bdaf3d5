"""Files and report section of an explanation: figures, JSON, and an HTML fragment built from plain data.

``explain_section_data`` turns reports into plain dictionaries and lists (what a template needs);
``explain_section_html`` renders that data. Keeping them apart lets the study report swap the markup.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from spikebridge.atomic import atomic_path, write_text_atomic
from spikebridge.report.html import _table, relative


def _fmt(x, digits: int = 3) -> str:
    return "-" if x is None or x != x else f"{x:.{digits}f}"


def _p(x) -> str:
    return "-" if x is None or x != x else f"{x:.2g}"


def _save(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def statistics_csv(report) -> str:
    """Every scalar of the report (the results-store rows) as CSV text: metric, value, ci_low, ci_high."""
    import csv
    import io

    from spikebridge.experiments.explain_store import report_rows

    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["model", "source", "target", "metric", "value", "ci_low", "ci_high"])
    for r in report_rows(report, data_hash=""):
        writer.writerow([r.model, r.source, r.target, r.metric, r.value, r.ci_low, r.ci_high])
    return buf.getvalue()


def write_explain(report, out: Path, stem: str) -> dict[str, Path]:
    """Write ``explain_{stem}.json`` and the figures under ``out/figures``; returns name -> path."""
    from spikebridge.viz import explain as viz

    out = Path(out)
    figs = out / "figures"
    paths: dict[str, Path] = {"json": out / f"explain_{stem}.json", "table": out / f"explain_{stem}.csv"}
    write_text_atomic(paths["json"], json.dumps(report.to_dict(), indent=1, default=str))
    write_text_atomic(paths["table"], statistics_csv(report))
    title = f"{report.label}: {report.source} -> {report.target}"
    if report.attention is not None:
        for layer in report.attention.layers:
            key = f"attention_L{layer.layer}"
            paths[key] = _save(viz.plot_attention_maps(layer, f"{title}, layer {layer.layer}"),
                               figs / f"{key}_{stem}.png")  # fmt: skip
            paths[f"{key}_html"] = figs / f"{key}_{stem}.html"
            write_text_atomic(
                paths[f"{key}_html"], viz.attention_html(layer, f"{title}, layer {layer.layer}")
            )
        tests = {report.target: list(report.attention.layers[0].correlations)}
        paths["correlations"] = _save(viz.plot_correlations(tests), figs / f"correlations_{stem}.png")
    paths["lag_profiles"] = _save(viz.plot_lag_profiles(report.attention, report.influence, title),
                                  figs / f"lag_profiles_{stem}.png")  # fmt: skip
    if report.influence is not None and (report.influence.scores or report.glm_scores):
        paths["influence"] = _save(viz.plot_influence(report.influence, report.glm_scores, title),
                                   figs / f"influence_{stem}.png")  # fmt: skip
    if report.ablations:
        paths["ablations"] = _save(viz.plot_ablations(list(report.ablations), title=title),
                                   figs / f"ablations_{stem}.png")  # fmt: skip
    return paths


def explain_section_data(report, figures: dict[str, Path], base: Path) -> dict:
    """Plain data of one explanation for the report (numbers formatted, figure paths relative to ``base``)."""
    data = {
        "title": f"{report.label}: {report.source} -> {report.target}",
        "notes": list(report.notes),
        "figures": {k: relative(p, base) for k, p in figures.items() if k not in ("json", "table")},
        "table": relative(figures["table"], base) if "table" in figures else "",
        "peaks": [],
        "correlations": [],
    }
    if report.attention is not None:
        for layer in report.attention.layers:
            data["peaks"].append([f"attention, layer {layer.layer}", layer.peak_lag,
                                  ", ".join(str(int(k)) for k in layer.attention_profile.argmax(1) + 1)])  # fmt: skip
            for c in layer.correlations:
                matrix, axis, rate = c.label.split("|")
                data["correlations"].append([layer.layer, matrix, axis, rate, c.n, _fmt(c.mean_r), _fmt(c.t, 2),
                                             _p(c.p_value)])  # fmt: skip
    if report.influence is not None:
        data["peaks"].append(["model influence", report.influence.peak_lag, "-"])
    scores = [*(report.influence.scores if report.influence else ()), *report.glm_scores]
    data["connections"] = report.connections
    data["influence"] = [[s.method, s.kind, _fmt(s.auc), s.n_positive, s.n_negative] for s in scores]
    data["ablations"] = [_ablation_cells(r) for r in report.ablations]
    data["stationarity"] = [[s.recording, s.preparation, f"{s.bin_ms:g}", s.n_samples, _fmt(s.statistic, 2),
                             _p(s.p_value)] for s in report.stationarity]  # fmt: skip
    return data


def _ablation_cells(row) -> list:
    cells = [row.condition, row.scoring, "-" if row.n_params is None else row.n_params]
    for name in ("roc_auc_pooled", "roc_auc_unit_mean", "ap_pooled"):
        m = row.metrics[name]
        ci = "" if m["ci_low"] is None else f" [{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
        cells.append(f"{_fmt(m['value'])}{ci}")
    test = row.unit_test or {}
    cells += [_fmt(test.get("effect"), 4), _p(test.get("p_value")), row.note]
    return cells


CORR_HEADER = ["layer", "matrix", "axis", "rate", "windows", "mean r", "t", "p (two-sided)"]
ABLATION_HEADER = ["condition", "scored on", "parameters", "pooled ROC-AUC", "per-unit ROC-AUC", "pooled AP",
                   "median per-unit AUC change", "p (paired Wilcoxon, two-sided)", "note"]  # fmt: skip


def explain_section_html(data: dict) -> str:
    """HTML fragment of :func:`explain_section_data`'s output."""
    parts = [f"<h3>{html.escape(data['title'])}</h3>"]
    parts += [f"<p><em>{html.escape(n)}</em></p>" for n in data["notes"]]
    if data["table"]:
        parts.append(f"<p><a href='{html.escape(data['table'])}'>every statistic (CSV)</a></p>")
    if data["peaks"]:
        parts.append(_table(["profile", "peak lag (bins)", "peak lag per head"], data["peaks"]))
    if data["correlations"]:
        parts.append("<p>Correlation of attention A and attention-weighted importance W with firing rates "
                     "(per-window Fisher z, t-test across test windows of this recording).</p>")  # fmt: skip
        parts.append(_table(CORR_HEADER, data["correlations"]))
    if data["influence"]:
        parts.append(f"<p>Influence scored against {html.escape(data['connections'])}.</p>")
        parts.append(
            _table(["method", "kind", "ROC-AUC", "positive pairs", "negative pairs"], data["influence"])
        )
    if data["ablations"]:
        parts.append(_table(ABLATION_HEADER, data["ablations"]))
    if data["stationarity"]:
        parts.append(_table(["recording", "preparation", "bin ms", "samples", "ADF statistic", "p"],
                            data["stationarity"]))  # fmt: skip
    for key, rel in data["figures"].items():
        if rel.endswith(".html"):
            parts.append(f"<p><a href='{html.escape(rel)}'>interactive {html.escape(key)}</a></p>")
        else:
            parts.append(f"<img src='{html.escape(rel)}' alt='{html.escape(key)}'>")
    return "\n".join(parts)


def write_shipped(shipped, out: Path) -> tuple[dict, dict[str, dict[str, Path]]]:
    """Write every report's files and the shared figures; returns (shared paths, per-report paths)."""
    from spikebridge.viz import explain as viz

    out = Path(out)
    per_report = {
        f"{r.source}__{r.target}": write_explain(r, out, f"{r.source}__{r.target}") for r in shipped.reports
    }
    shared: dict[str, Path] = {"json": out / "explain_summary.json"}
    write_text_atomic(shared["json"], json.dumps(shipped.to_dict(), indent=1, default=str))
    tests = {
        r.target: list(r.attention.layers[0].correlations) for r in shipped.reports if r.attention is not None
    }
    if tests:
        shared["correlations"] = _save(viz.plot_correlations(tests), out / "figures" / "correlations_all.png")
    if shipped.stationarity:
        shared["stationarity"] = _save(viz.plot_stationarity(list(shipped.stationarity)),
                                       out / "figures" / "stationarity.png")  # fmt: skip
    return shared, per_report


def shipped_section_data(shipped, shared: dict[str, Path], per_report: dict, base: Path) -> dict:
    """Plain data of a shipped explanation: every report's data, the across-recording tests, stationarity."""
    reports = [explain_section_data(r, per_report[f"{r.source}__{r.target}"], base) for r in shipped.reports]
    across = [[*t.label.split("|"), t.n, _fmt(t.mean_r), _fmt(t.t, 2), _p(t.p_value)] for t in shipped.across]
    adf = [[s.recording, s.preparation, f"{s.bin_ms:g}", s.n_samples, _fmt(s.statistic, 2), _p(s.p_value)]
           for s in shipped.stationarity]  # fmt: skip
    comparisons = [[f"{c.bin_ms:g}", c.n_in_vitro, c.n_in_vivo, _fmt(c.median_in_vitro, 2), _fmt(c.median_in_vivo, 2),
                    f"{c.stationary_in_vitro}/{c.n_in_vitro}", f"{c.stationary_in_vivo}/{c.n_in_vivo}", c.test,
                    _p(c.p_value)] for c in shipped.comparisons]  # fmt: skip
    return {"reports": reports, "across": across, "stationarity": adf, "comparisons": comparisons,
            "figures": {k: relative(p, base) for k, p in shared.items() if k != "json"}}  # fmt: skip


def shipped_section_html(data: dict) -> str:
    """HTML fragment of :func:`shipped_section_data`'s output (the study report's "what the model learned")."""
    parts = [explain_section_html(r) for r in data["reports"]]
    if data["across"]:
        parts.append("<h3>Across recordings</h3><p>One-sample two-sided t-test of the per-recording mean Fisher z; "
                     "with few recordings this test has little power (the per-recording tests above are across "
                     "test windows).</p>")  # fmt: skip
        parts.append(_table(["matrix", "axis", "rate", "recordings", "mean r", "t", "p"], data["across"]))
    if data["stationarity"]:
        parts.append("<h3>Stationarity of population activity (augmented Dickey-Fuller)</h3>")
        parts.append(_table(["recording", "preparation", "bin ms", "samples", "ADF statistic", "p"],
                            data["stationarity"]))  # fmt: skip
        parts.append(_table(["bin ms", "in vitro", "in vivo", "median ADF in vitro", "median ADF in vivo",
                             "stationary (p<0.05) in vitro", "stationary in vivo", "test", "p"],
                            data["comparisons"]))  # fmt: skip
    for key, rel in data["figures"].items():
        parts.append(f"<img src='{html.escape(rel)}' alt='{html.escape(key)}'>")
    return "\n".join(parts)
