"""The QuantFormer section of the study report: tables, verdicts and figures of every source.

:func:`quantformer_context` returns plain tables (header, rows), verdict sentences and figure paths;
:func:`quantformer_section` builds the report :class:`~spikebridge.report.blocks.Section` (data only,
rendered by :mod:`spikebridge.report.engine`); :func:`write_quantformer_report` writes it as a
standalone page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spikebridge.evaluation.forecasting import CLASSIFICATION_METRICS, FORECAST_METRICS
from spikebridge.report.blocks import Section

LABELS = {"mse": "MSE", "mae": "MAE", "smape": "SMAPE", "pearson": "Pearson r", "ssim": "SSIM",
          "balanced_accuracy": "balanced accuracy", "precision": "precision", "recall": "recall", "f1": "F1"}  # fmt: skip


def _cell(s: dict | None, undefined: bool = True) -> str:
    """``value [low, high]`` of a MetricSummary dict; the count of undefined traces when some are."""
    if s is None or s.get("value") is None:
        return "undefined" if undefined else "-"
    text = f"{s['value']:.4g}"
    if s.get("ci_low") is not None and s.get("ci_high") is not None:
        text += f" [{s['ci_low']:.4g}, {s['ci_high']:.4g}]"
    if s.get("n_undefined"):
        text += f" ({s['n_undefined']} undefined)"
    return text


def _forecast_table(result, scale: str) -> tuple[list[str], list[list[str]]]:
    header = ("model", *(LABELS[m] for m in FORECAST_METRICS))
    rows = [
        [m, *(_cell(metrics.get(f"{scale}/{k}")) for k in FORECAST_METRICS)]
        for m, metrics in result.forecast.items()
    ]
    return header, rows


def _classify_table(result) -> tuple[list[str], list[list[str]]]:
    header = ["model", *(LABELS[m] for m in CLASSIFICATION_METRICS)]
    return header, [
        [m, *(_cell(metrics.get(k)) for k in CLASSIFICATION_METRICS)]
        for m, metrics in result.classify.items()
    ]


def _tests_table(result) -> tuple[list[str], list[list[str]]]:
    header = ["against", "metric", "n neurons", "median difference", "p (two-sided)", "verdict"]
    rows = []
    for t in result.tests:
        p = "-" if t.get("p_value") is None else f"{t['p_value']:.2g}"
        eff = "-" if t.get("effect") is None else f"{t['effect']:+.4g}"
        rows.append([t["against"], t["metric"], str(t["n"]), eff, p, t["verdict"]])
    return header, rows


def _describe(result) -> str:
    obs = result.meta.get("observations", {})
    parts = {p: obs.get(p, {}) for p in ("train", "val", "test")}
    counts = ", ".join(f"{p} {v.get('n', 0)}" for p, v in parts.items())
    neurons = parts["test"].get("neurons", "?")
    active = parts["test"].get("active_fraction")
    act = "" if active is None else f"; active fraction on test {active:.3f}"
    cb = result.codebook
    return (f"{result.modality}, {neurons} neurons; windows: {counts}{act}. Codebook K = {cb['codebook_size']}: "
            f"test perplexity {cb['test']['perplexity']:.1f}, {cb['test']['dead_codes']} dead codes "
            f"(train: {cb['train']['perplexity']:.1f}, {cb['train']['dead_codes']}); forecast code accuracy "
            f"{cb['code_accuracy']:.3f} (always the most frequent code: {cb['code_accuracy_majority']:.3f}).")  # fmt: skip


FIGURE_KINDS = ("examples", "metrics", "codebook")


def _result_digest(result) -> str:
    """A hash of a source's result as the store keeps it (JSON), so a result read back hashes the same."""
    import json

    from spikebridge.provenance import config_hash

    return config_hash(json.loads(json.dumps(result.to_dict(), default=str)))


def write_figures(result, fig_dir: Path) -> dict[str, str]:
    """Example forecasts, metric bars and codebook usage of one source as PNG files.

    Figures drawn earlier from the same result (a stamp file holds the result's digest) are reused.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    from spikebridge.atomic import atomic_path, write_text_atomic
    from spikebridge.viz.quantformer import plot_codebook_usage, plot_forecast_examples, plot_metric_bars

    stem = result.name.replace(":", "-").replace("/", "_")
    figures = {kind: str(Path(fig_dir) / f"quantformer_{kind}_{stem}.png") for kind in FIGURE_KINDS}
    stamp, digest = Path(fig_dir) / f"quantformer_{stem}.digest", _result_digest(result)
    if stamp.is_file() and stamp.read_text() == digest and all(Path(f).is_file() for f in figures.values()):
        return figures
    with np.load(result.examples, allow_pickle=False) as z:
        examples = {k: z[k] for k in z.files}
    for kind, fig in (("examples", plot_forecast_examples(examples, result.name)),
                      ("metrics", plot_metric_bars(result.forecast, title=result.name)),
                      ("codebook", plot_codebook_usage(result.codebook, f"{result.name}: codebook usage"))):  # fmt: skip
        with atomic_path(Path(figures[kind])) as tmp:
            fig.savefig(tmp, dpi=110, format="png")
        plt.close(fig)
    write_text_atomic(stamp, digest)
    return figures


def summary_table(study) -> tuple[list[str], list[list[str]]]:
    """One table over every source and model: raw MSE and Pearson r, normalised MSE, and the verdicts."""
    header = [
        "source",
        "modality",
        "model",
        "MSE",
        "Pearson r",
        "normalised MSE",
        "QuantFormer vs this model",
    ]
    rows = []
    for result in study.results:
        for model, metrics in result.forecast.items():
            versus = [
                t for t in result.tests if t["against"] == model and t["metric"] in ("raw/mse", "raw/pearson")
            ]
            text = "; ".join(f"{t['verdict']} on {t['metric'].split('/')[1]}" for t in versus) or "-"
            rows.append([result.name, result.modality, model, _cell(metrics["raw/mse"]), _cell(metrics["raw/pearson"]),
                         _cell(metrics["norm/mse"]), text])  # fmt: skip
    return header, rows


def quantformer_context(study, out_dir: Path, figures: bool = True) -> dict[str, Any]:
    """Per source: description, tables (header, rows), verdict sentences and figure paths (relative to ``out_dir``)."""
    from spikebridge.report.html import relative

    sources = []
    for result in study.results:
        figs = write_figures(result, Path(out_dir) / "figures") if figures else {}
        sources.append({
            "name": result.name, "description": _describe(result), "verdicts": list(result.verdicts),
            "forecast_raw": _forecast_table(result, "raw"), "forecast_norm": _forecast_table(result, "norm"),
            "classify": _classify_table(result) if result.classify else None, "tests": _tests_table(result),
            "figures": {k: relative(Path(v), Path(out_dir)) for k, v in figs.items()}, "seconds": result.seconds,
        })  # fmt: skip
    return {
        "sources": sources,
        "summary": summary_table(study),
        "compute_seconds": float(sum(r.seconds for r in study.results)),
        "seconds": study.seconds,
        "config": study.config,
    }


INTRO = (
    "QuantFormer (masked, vector-quantized pre-training over patches of single-neuron traces; forecasting as "
    "classification of the codes of the masked response patches) against baselines fitted on the same train "
    "windows and scored on the same test windows. Values: mean over test traces with a 95% bootstrap interval "
    "over neurons. Tests: two-sided Wilcoxon signed-rank on per-neuron means, paired over neurons. Normalised "
    "metrics divide each trace by its accumulated absolute derivative (the paper's normalisation); a constant "
    "forecast (mean, copy-last) cannot be normalised and is reported as undefined."
)


CAPTIONS = {
    "examples": "Test windows (black: recorded; the onset at 0 s) and every model's forecast of the response",
    "metrics": "Raw MSE and Pearson r of every model: mean over test traces, 95% bootstrap interval over neurons",
    "codebook": "Share of patches assigned to each code, train and test windows",
}


def _source_section(src: dict[str, Any], out_dir: Path) -> Section:
    from spikebridge.report.blocks import Figure, Paragraph, Section, Table

    blocks = [Paragraph(src["description"]),
              Table("Forecasting, raw signals", *src["forecast_raw"]),
              Table("Forecasting, derivative-normalised signals", *src["forecast_norm"], collapsed=True)]  # fmt: skip
    if src["classify"]:
        blocks.append(Table("Response classification (thresholds chosen on validation)", *src["classify"]))
    blocks += [Paragraph(v, emphasis=True) for v in src["verdicts"]]
    blocks.append(Table("Every paired test (two-sided Wilcoxon over neurons)", *src["tests"], collapsed=True))
    blocks += [Figure.from_path(Path(out_dir) / p, CAPTIONS[k]) for k, p in src["figures"].items()]
    anchor = "qf-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in src["name"])
    return Section(anchor, src["name"], tuple(blocks))


def quantformer_section(study, out_dir: Path, figures: bool = True):
    """The report Section: the overview table, then one subsection per source (figures under ``out_dir/figures``)."""
    from spikebridge.report.blocks import Paragraph, Section, Table

    ctx = quantformer_context(study, out_dir, figures)
    blocks = (Paragraph(INTRO), Table("All sources", *ctx["summary"]),
              Paragraph(f"Fitting and scoring took {ctx['compute_seconds'] / 60:.1f} min on this machine (sum over "
                        "sources of the runs that computed them; results read back from the store cost nothing)."))  # fmt: skip
    subsections = tuple(_source_section(src, out_dir) for src in ctx["sources"])
    return Section("quantformer", "QuantFormer: calcium and spike forecasting", blocks, subsections)


def write_quantformer_report(study, out_dir: Path) -> Path:
    """A standalone HTML page of the QuantFormer study at ``out_dir/quantformer_report.html``."""
    from spikebridge.report.blocks import Report
    from spikebridge.report.engine import write_report

    report = Report("QuantFormer: calcium and spike forecasting", (quantformer_section(study, out_dir),))
    return write_report(report, Path(out_dir) / "quantformer_report.html")
