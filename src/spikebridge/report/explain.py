"""Files and report section of an explanation: figures, JSON and CSV, and a data-only report section.

The section is made of :mod:`spikebridge.report.blocks` (tables, figures, an interactive plotly figure,
paragraphs); :mod:`spikebridge.report.engine` renders it, alone (``spikebridge explain``) or inside the
study report (``spikebridge study --explain``).
"""

from __future__ import annotations

import json
from pathlib import Path

from spikebridge.atomic import atomic_path, write_text_atomic
from spikebridge.report.blocks import Figure, Paragraph, Plotly, Section, Table


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


def report_stem(report) -> str:
    """File stem of one explanation: model label, training and explained recordings."""
    return f"{report.label}__{report.source}__{report.target}"


def _reuse(manifest: Path, document: Path, text: str) -> dict[str, Path] | None:
    """The paths listed in ``manifest`` when ``document`` already holds ``text`` and every path exists."""
    if not (manifest.is_file() and document.is_file()) or document.read_text() != text:
        return None
    paths = {k: Path(v) for k, v in json.loads(manifest.read_text()).items()}
    return paths if all(p.is_file() for p in paths.values()) else None


def _write_manifest(manifest: Path, paths: dict[str, Path]) -> None:
    write_text_atomic(manifest, json.dumps({k: str(v) for k, v in paths.items()}, indent=1))


def write_explain(report, out: Path, stem: str) -> dict[str, Path]:
    """Write ``explain_{stem}.json`` and the figures under ``out/figures``; returns name -> path.

    When the folder already holds this very explanation (same JSON) with every file listed in its
    ``explain_{stem}.files.json``, nothing is redrawn.
    """
    from spikebridge.viz import explain as viz

    out = Path(out)
    figs = out / "figures"
    paths: dict[str, Path] = {"json": out / f"explain_{stem}.json", "table": out / f"explain_{stem}.csv"}
    text = json.dumps(report.to_dict(), indent=1, default=str)
    manifest = out / f"explain_{stem}.files.json"
    reused = _reuse(manifest, paths["json"], text)
    if reused is not None:
        return reused
    write_text_atomic(paths["json"], text)
    write_text_atomic(paths["table"], statistics_csv(report))
    title = f"{report.label}: {report.source} -> {report.target}"
    if report.attention is not None:
        for layer in report.attention.layers:
            key = f"attention_L{layer.layer}"
            paths[key] = _save(viz.plot_attention_maps(layer, f"{title}, layer {layer.layer}"),
                               figs / f"{key}_{stem}.png")  # fmt: skip
            paths[f"{key}_html"] = figs / f"{key}_{stem}.html"
            page = viz.plot_attention_interactive(layer, f"{title}, layer {layer.layer}")
            write_text_atomic(paths[f"{key}_html"], page.to_html(include_plotlyjs=True, full_html=True))
        tests = {report.target: list(report.attention.layers[0].correlations)}
        paths["correlations"] = _save(viz.plot_correlations(tests), figs / f"correlations_{stem}.png")
    paths["lag_profiles"] = _save(viz.plot_lag_profiles(report.attention, report.influence, title, report.importance),
                                  figs / f"lag_profiles_{stem}.png")  # fmt: skip
    if report.influence is not None and (report.influence.scores or report.glm_scores):
        paths["influence"] = _save(viz.plot_influence(report.influence, report.glm_scores, title),
                                   figs / f"influence_{stem}.png")  # fmt: skip
    if report.ablations:
        paths["ablations"] = _save(viz.plot_ablations(list(report.ablations), title=title),
                                   figs / f"ablations_{stem}.png")  # fmt: skip
    _write_manifest(manifest, paths)
    return paths


CORR_HEADER = ("layer", "matrix", "axis", "rate", "windows", "mean r", "t", "p (two-sided)")
ABLATION_HEADER = ("condition", "scored on", "parameters", "pooled ROC-AUC", "per-unit ROC-AUC", "pooled AP",
                   "per-unit bits/spike (median)",
                   "median per-unit AUC change", "p (paired Wilcoxon, two-sided)", "note")  # fmt: skip
FIGURE_CAPTIONS = {
    "correlations": "Mean correlation of A and W with firing rates (* two-sided p < 0.01 across windows)",
    "lag_profiles": "Mean attention (and W, scaled) against the lag from the diagonal; input-gradient importance "
    "and influence per lag",
    "influence": "Model influence [pre, post] and ROC-AUC against the known connections, beside the GLM",
    "ablations": "Per-unit ROC-AUC of the intact model and every ablation, with 95% intervals",
}


def _attention_tables(report) -> list[Table]:
    peaks, corr = [], []
    for layer in report.attention.layers:
        per_head = ", ".join(str(int(k)) for k in layer.attention_profile.argmax(1) + 1)
        peaks.append((f"attention, layer {layer.layer}", layer.peak_lag, per_head))
        for c in layer.correlations:
            corr.append((layer.layer, *c.label.split("|"), c.n, _fmt(c.mean_r), _fmt(c.t, 2), _p(c.p_value)))
    if report.influence is not None:
        peaks.append(("model influence", report.influence.peak_lag, "-"))
    note = ("Per window, rows (key axis) or columns (query axis) of the map are correlated with the rates and "
            "averaged as Fisher z; the test is across the test windows of this recording.",)  # fmt: skip
    return [
        Table("Lag profiles (lag 1 = the most recent input bin)", ("profile", "peak lag (bins)", "per head"),
              tuple(peaks)),
        Table("Correlation of attention A and attention-weighted importance W with firing rates", CORR_HEADER,
              tuple(corr), notes=note),
    ]  # fmt: skip


def _ablation_row(row) -> tuple:
    cells = [row.condition, row.scoring, row.n_params]
    for name in ("roc_auc_pooled", "roc_auc_unit_mean", "ap_pooled", "bits_per_spike_nlb_unit_median"):
        m = row.metrics.get(name)  # rows stored before a metric was added lack it
        if m is None:
            cells.append("-")
            continue
        ci = "" if m["ci_low"] is None else f" [{_fmt(m['ci_low'])}, {_fmt(m['ci_high'])}]"
        cells.append(f"{_fmt(m['value'])}{ci}")
    test = row.unit_test or {}
    return (*cells, _fmt(test.get("effect"), 4), _p(test.get("p_value")), row.note)


def _applicability_table(report) -> Table:
    rows = tuple((a.analysis, "yes" if a.applies else "no", a.reason) for a in report.applicability)
    return Table(f"Analyses of {report.label} and why some do not apply", ("analysis", "run", "why"), rows)


def _importance_table(report) -> Table:
    imp, c = report.importance, report.importance.rate_correlation
    peaks = (
        []
        if report.attention is not None
        else [("model influence", report.influence.peak_lag)]
        if report.influence
        else []
    )
    rows = (("input-gradient importance", imp.peak_lag),) + tuple(peaks)
    cells = tuple((name, lag, _fmt(c.mean_r) if i == 0 else "-", _p(c.p_value) if i == 0 else "-", c.n if i == 0 else "-")
                  for i, (name, lag) in enumerate(rows))  # fmt: skip
    note = ("Importance of a past bin: summed |loss gradient| at its units' inputs for the prediction of the bin "
            "after the window; r: per-window Pearson with the bins' input rate, Fisher z, two-sided t-test "
            "across windows.",)  # fmt: skip
    return Table("Input-gradient lag profile (lag 1 = the most recent input bin)",
                 ("profile", "peak lag (bins)", "r with input rate", "p (two-sided)", "windows"), cells, notes=note)  # fmt: skip


def explain_tables(report) -> list[Table]:
    """The tables of one explanation (which analyses apply, lag peaks, correlations, influence, ablations,
    stationarity)."""
    tables = [_applicability_table(report)] if report.applicability else []
    tables += _attention_tables(report) if report.attention is not None else []
    if report.importance is not None:
        tables.append(_importance_table(report))
    scores = [*(report.influence.scores if report.influence else ()), *report.glm_scores]
    if scores:
        rows = tuple((s.method, s.kind, _fmt(s.auc), s.n_positive, s.n_negative) for s in scores)
        tables.append(Table(f"Influence against {Path(report.connections).name} (ROC-AUC over ordered pairs)",
                            ("method", "kind", "ROC-AUC", "positive pairs", "negative pairs"), rows))  # fmt: skip
    if report.ablations:
        tables.append(Table("Ablations (95% block-bootstrap intervals)", ABLATION_HEADER,
                            tuple(_ablation_row(r) for r in report.ablations)))  # fmt: skip
    if report.stationarity:
        tables.append(_adf_table("Augmented Dickey-Fuller test of population activity", report.stationarity))
    return tables


def _adf_table(caption: str, rows) -> Table:
    cells = tuple((s.recording, s.preparation, f"{s.bin_ms:g}", s.n_samples, _fmt(s.statistic, 2), _p(s.p_value))
                  for s in rows)  # fmt: skip
    return Table(caption, ("recording", "preparation", "bin ms", "samples", "ADF statistic", "p"), cells)


def _anchor(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


def explain_section(report, figures: dict[str, Path]) -> Section:
    """The report section of one explanation: notes, tables, figures and the interactive mean maps.

    ``figures`` are the paths :func:`write_explain` returned (PNG files are embedded in the page).
    """
    blocks: list = [Paragraph(n, emphasis=True) for n in report.notes]
    blocks += explain_tables(report)
    for key, caption in (("attention_L0", "Attention maps: heads of one window, and the means of A and W"),
                         *FIGURE_CAPTIONS.items()):  # fmt: skip
        if key in figures:
            blocks.append(Figure.from_path(figures[key], caption))
    if report.attention is not None:
        from spikebridge.viz.explain import plot_attention_interactive

        layer = report.attention.layers[0]
        fig = plot_attention_interactive(layer, "mean attention A and attention-weighted importance W", 0)
        blocks.append(Plotly.from_figure(fig, "Interactive mean maps of the first layer", height=420))
    title = f"{report.label}: {report.source} -> {report.target}"
    return Section(_anchor(f"explain-{report.label}-{report.source}-{report.target}"), title, tuple(blocks))


def write_shipped(shipped, out: Path) -> tuple[dict, dict[str, dict[str, Path]]]:
    """Write every report's files and the shared figures; returns (shared paths, per-report paths)."""
    from spikebridge.viz import explain as viz

    out = Path(out)
    per_report = {report_stem(r): write_explain(r, out, report_stem(r)) for r in shipped.reports}
    shared: dict[str, Path] = {"json": out / "explain_summary.json"}
    text = json.dumps(shipped.to_dict(), indent=1, default=str)
    manifest = out / "explain_summary.files.json"
    reused = _reuse(manifest, shared["json"], text)
    if reused is not None:
        return reused, per_report
    write_text_atomic(shared["json"], text)
    tests = {f"{r.label}: {r.target}": list(r.attention.layers[0].correlations) for r in shipped.reports
             if r.attention is not None and r.source == r.target}  # fmt: skip
    if tests:
        shared["correlations"] = _save(viz.plot_correlations(tests), out / "figures" / "correlations_all.png")
    if shipped.stationarity:
        shared["stationarity"] = _save(viz.plot_stationarity(list(shipped.stationarity)),
                                       out / "figures" / "stationarity.png")  # fmt: skip
    _write_manifest(manifest, shared)
    return shared, per_report


def shipped_tables(shipped) -> list[Table]:
    """Across-recording tests, the ADF test of every recording and the in vitro vs in vivo comparison."""
    tables = []
    if shipped.across:
        rows = tuple(
            (*t.label.split("|"), t.n, _fmt(t.mean_r), _fmt(t.t, 2), _p(t.p_value)) for t in shipped.across
        )
        note = ("One-sample two-sided t-test of the per-recording mean Fisher z; with few recordings it has "
                "little power (each recording's own test across windows is in its subsection).",)  # fmt: skip
        tables.append(Table("Correlations across recordings", ("matrix", "axis", "rate", "recordings", "mean r",
                                                                "t", "p"), rows, notes=note))  # fmt: skip
    if shipped.stationarity:
        tables.append(_adf_table("Augmented Dickey-Fuller test of population activity, every recording",
                                 shipped.stationarity))  # fmt: skip
        rows = tuple((f"{c.bin_ms:g}", c.n_in_vitro, c.n_in_vivo, _fmt(c.median_in_vitro, 2), _fmt(c.median_in_vivo, 2),
                      f"{c.stationary_in_vitro}/{c.n_in_vitro}", f"{c.stationary_in_vivo}/{c.n_in_vivo}", c.test,
                      _p(c.p_value)) for c in shipped.comparisons)  # fmt: skip
        header = ("bin ms", "in vitro", "in vivo", "median ADF in vitro", "median ADF in vivo",
                  "stationary (p<0.05) in vitro", "stationary in vivo", "test", "p")  # fmt: skip
        tables.append(Table("In vitro vs in vivo stationarity", header, rows))
    return tables


def shipped_section(shipped, shared: dict[str, Path], per_report: dict) -> Section:
    """The study report's "what the model learned" section: shared tables and one subsection per model."""
    intro = ("The seed paper's Fig. 4 analyses on each evaluated recording's models (test part): the paper's "
             "transformer and spikebridge's bridge model, each with a table of the analyses that apply to it; with "
             "the checks the paper could not make: influence against known connections and the planted-lag "
             "simulator behind the tests. Definitions: spikebridge.analysis.")  # fmt: skip
    blocks: list = [Paragraph(intro), *shipped_tables(shipped)]
    captions = {"correlations": "Correlations with firing rates, one bar per recording",
                "stationarity": "ADF statistic of every recording (filled: p < 0.05)"}  # fmt: skip
    blocks += [Figure.from_path(shared[k], c) for k, c in captions.items() if k in shared]
    subs = tuple(explain_section(r, per_report[report_stem(r)]) for r in shipped.reports)
    return Section("explain", "What the model learned", tuple(blocks), subs)
