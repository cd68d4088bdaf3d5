"""The README's result sections, rendered from the study summary (:mod:`spikebridge.report.summary`).

Tables and sentences are written here from the numbers of one run, never typed by hand; every
sentence comparing models comes from :mod:`spikebridge.evaluation.verdict`. The rendered text sits
in the README between :data:`BEGIN` and :data:`END`; ``scripts/render_readme.py`` rewrites it and a
test checks that the committed README equals the rendering of the committed summary.
"""

from __future__ import annotations

from spikebridge.errors import SpikebridgeDataError
from spikebridge.evaluation.verdict import DEFAULT_ALPHA, summary_sentence, verdict_from_test

BEGIN = "<!-- results: begin (rendered by scripts/render_readme.py from docs/results/study_summary.json) -->"
END = "<!-- results: end -->"
EVAL_COLUMNS = (
    ("roc_auc_pooled", "pooled ROC-AUC"),
    ("roc_auc_unit_mean", "per-unit ROC-AUC"),
    ("ap_pooled", "pooled AP"),
    ("bits_per_spike_nlb_pooled", "bits/spike, NLB null"),
    ("bits_per_spike_train_pooled", "bits/spike, train-rate null"),
    ("bits_per_spike_nlb_cal_unit_maps", "bits/spike, NLB null, calibrated per unit"),
)
GROUP_ORDER = (
    "in vitro self",
    "in vitro others",
    "in vivo self",
    "in vivo others",
    "in vitro -> in vivo",
    "in vivo -> in vitro",
)


def _cell(triple) -> str:
    value, low, high = triple
    if value is None:
        return "-"
    return f"{value:.3f}" if low is None else f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _block(block: dict) -> str:
    """E.g. "5.0 s blocks, the lag where the test targets' population-count autocorrelation falls below 0.1"."""
    if "seconds" not in block:
        return f"blocks of {block.get('bins')} bins, as given"
    acf = "the test targets' population-count autocorrelation"
    why = {
        "autocorrelation": f"the lag where {acf} falls below {block['threshold']:g}",
        "minimum": f"the {block['min_s']:g} s minimum, as {acf} was already below {block['threshold']:g}",
        "maximum": f"the longest allowed (a tenth of the part), as {acf} stayed above {block['threshold']:g}",
        "constant": "the minimum, as the population count was constant",
    }[block["limited_by"]]
    return f"{block['seconds']:.1f} s blocks, {why}"


def _evaluation(ev: dict) -> list[str]:
    level = round(100 * ev["level"])
    left_out = ev["n_units"] - ev["n_scored_units"]
    calibrated = [m for m, r in ev["models"].items() if r["bits_source"].startswith("scores calibrated")]
    lines = [
        f"**{ev['target']}**"
        + ("" if ev["source"] == ev["target"] else f" (models trained on {ev['source']})"),
        "",
        f"Test part: {ev['n_bins']:,} bins x {ev['n_units']} units, {ev['n_spikes']:,} spikes, chance AP "
        f"(spike probability) {ev['chance']:.4f}. {level}% block-bootstrap intervals over time from "
        f"{ev['n_boot']} resamples of {_block(ev['block'])}. Per-unit means are over the "
        f"{ev['n_scored_units']} units with a test spike and a non-spike; {left_out} unit(s) without "
        "are left out. bits/spike: NLB null = each unit's mean rate over these test bins, the train-rate "
        "null beside it; model probabilities are scored uncalibrated"
        + (
            f", except {', '.join(calibrated)} (scores, not probabilities: calibrated on the validation "
            "part with one isotonic map)"
            if calibrated
            else ""
        )
        + "; the last column calibrates every model on the validation part, with an isotonic map per unit "
        "that has enough validation spikes (one shared map for the others).",
        "",
        "| model | " + " | ".join(label for _, label in EVAL_COLUMNS) + " |",
        "|---|" + "---|" * len(EVAL_COLUMNS),
    ]
    for model, res in ev["models"].items():
        cells = [_cell(res["metrics"].get(key, (None, None, None))) for key, _ in EVAL_COLUMNS]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    rate = ev["models"].get("rate", {}).get("metrics", {})
    if rate.get("roc_auc_pooled", [None])[0] is not None:
        lines += [
            "",
            f"The rate baseline knows nothing about time (per-unit ROC-AUC "
            f"{rate['roc_auc_unit_mean'][0]:.3f}), yet scores a pooled ROC-AUC of "
            f"{rate['roc_auc_pooled'][0]:.3f}: read pooled values against it.",
        ]
    lines += ["", *_verdicts(ev), ""]
    return lines


def _verdicts(ev: dict) -> list[str]:
    """One bullet per model: its verdicts against chance and (transformers) against each baseline."""
    by_model: dict[tuple[str, str], list] = {}  # one sentence per model and metric
    for test in ev["tests"]:
        v = verdict_from_test(test, metric=test.get("metric", "roc_auc"))
        by_model.setdefault((test["model"], v.metric), []).append(v)
    n_tests = len(ev["tests"])
    lines = [
        f"Verdicts (two-sided Wilcoxon signed-rank tests paired over units; p-values Holm-adjusted over the "
        f"{n_tests} tests of this evaluation; alpha = {DEFAULT_ALPHA:g}):",
        "",
    ]
    lines += [
        f"- {summary_sentence(model, verdicts, compact=True)}" for (model, _), verdicts in by_model.items()
    ]
    return lines


def _matrix(mx: dict) -> list[str]:
    kinds = {k: sum(p == k for p in mx["preparations"]) for k in ("in_vitro", "in_vivo", "unknown")}
    metrics = [m for m in ("roc_auc_unit_mean", "roc_auc_pooled") if m in mx["table2"]]
    models = [m for m in mx["models"] if all(m in mx["table2"][k] for k in metrics)]
    label = {"roc_auc_unit_mean": "per-unit ROC-AUC", "roc_auc_pooled": "pooled ROC-AUC"}
    units = mx.get("units_scored") or {}
    header = ["group", "cells", *(["units scored"] if units else [])]
    header += [f"{label[k]}, {m}" for k in metrics for m in models]
    lines = [
        "### Cross-recording matrix",
        "",
        f"{len(mx['names'])} recordings ({kinds['in_vitro']} in vitro, {kinds['in_vivo']} in vivo"
        + (f", {kinds['unknown']} of unknown preparation" if kinds["unknown"] else "")
        + "); "
        f"{mx['fits']} fits and {mx['scores']} scored cells computed ({mx['reused']} reused"
        + (
            f"; {mx['fits_from_store']} more fits taken from the study's model store"
            if mx.get("fits_from_store")
            else ""
        )
        + ") in "
        f"{mx['minutes']:.0f} min. Mean +/- SD over the cells of each group of the paper's Table 2. No "
        "significance test is run across cells: they share source models and targets, so they are not "
        "independent replicates, and no sentence here compares models.",
        "",
        "| " + " | ".join(header) + " |",
        "|---|" + "---|" * (len(header) - 1),
    ]
    empty = []
    for group in GROUP_ORDER:
        stats = {
            (k, m): next(g for g in mx["table2"][k][m] if g["group"] == group)
            for k in metrics
            for m in models
        }
        n = max(s["n"] for s in stats.values())
        if n == 0:
            empty.append(group)
            continue
        cells = [_units_cell(units.get(group))] if units else []
        cells += [_group_cell(stats[(k, m)]) for k in metrics for m in models]
        lines.append(f"| {group} | {n} | " + " | ".join(cells) + " |")
    lines.append("")
    if empty:
        lines += [f"Empty groups: {', '.join(empty)}.", ""]
    below = mx["cells_below_chance_unit_auc"]
    n_cells = len(mx["names"]) ** 2
    lines.append(
        "Cells whose per-unit ROC-AUC is below chance (0.5): "
        + ", ".join(f"{m} {below[m]} of {n_cells}" for m in models if m in below)
        + "."
    )
    lines += ["", *_proximity(mx.get("proximity")), ""]
    return lines


def _units_cell(values: list | None) -> str:
    """Units a cell of the group scored (columns real in both recordings): mean (smallest-largest)."""
    if not values or values[0] is None:
        return "-"
    mean, low, high = values
    return f"{mean:.0f}" if low == high else f"{mean:.0f} ({low:.0f}-{high:.0f})"


def _group_cell(stat: dict) -> str:
    if stat["n"] == 0 or stat["mean"] is None:
        return "-"
    return f"{stat['mean']:.3f}" if stat["n"] == 1 else f"{stat['mean']:.3f} +/- {stat['sd']:.3f}"


def _proximity(p: dict | None) -> list[str]:
    if p is None:
        return []
    from spikebridge.analysis.proximity import METRIC_LABELS

    what = METRIC_LABELS.get(p["metric"], p["metric"])
    text = (
        f"The proximity map is drawn from {p['model']}'s {what} (distance 1/score, metric MDS, Kruskal "
        f"stress-1 = {p['stress1']:.3f})"
    )
    below = p["below_chance"]
    if below:
        worst = ", ".join(f"{s} -> {t} {v:.3f}" for s, t, v in below[:4])
        verb = "is" if len(below) == 1 else "are"
        text += f"; {len(below)} of its cells {verb} below chance and flagged on the figure (worst: {worst})"
    return [text + "."]


def _run_time(summary: dict) -> str:
    """The run's wall time, with its stages when the summary records them (stages read back from the
    stores of an earlier run take about no time: the sentence is only the time of this run)."""
    cores = summary.get("cpu_cores")
    where = f" on {cores} CPU cores" if cores else ""
    stages = summary.get("stage_minutes") or {}
    parts = ", ".join(f"{name} {m:.1f}" for name, m in stages.items())
    return f"The run took {summary['minutes']:.1f} min{where}" + (
        f" (minutes per stage: {parts})." if parts else "."
    )


def render_results(summary: dict) -> str:
    """The README's result sections (markdown, without the markers) from a study summary."""
    if summary.get("schema") != 1:
        raise SpikebridgeDataError(f"study summary schema {summary.get('schema')!r} is not supported")
    s = summary["settings"]
    commit = (summary.get("git_commit") or "unknown")[:10]
    lines = [
        f"Numbers from one run of `spikebridge study` ({s.get('description', '')}profile `{s['profile']}`, "
        f"seed {s['seed']}, {s['n_boot']} bootstrap resamples; spikebridge {summary['package_version']}, "
        f"commit `{commit}`, {summary['created_at'][:10]}). {_run_time(summary)} "
        "`spikebridge-out/study/report.html` holds the full tables, tests and figures.",
        "",
        "### Within-recording prediction",
        "",
    ]
    for ev in summary["evaluations"]:
        lines += _evaluation(ev)
    if summary.get("matrix"):
        lines += _matrix(summary["matrix"])
    return "\n".join(lines).rstrip() + "\n"


def replace_results(readme: str, rendered: str) -> str:
    """``readme`` with the text between the markers replaced by ``rendered``."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1 or readme.index(BEGIN) > readme.index(END):
        raise SpikebridgeDataError("README must hold the results markers once each, begin before end")
    head, rest = readme.split(BEGIN)
    _, tail = rest.split(END)
    return f"{head}{BEGIN}\n{rendered}{END}{tail}"


def current_results(readme: str) -> str:
    """The text between the markers (what :func:`render_results` wrote last)."""
    if readme.count(BEGIN) != 1 or readme.count(END) != 1:
        raise SpikebridgeDataError("README must hold the results markers once each")
    return readme.split(BEGIN)[1].split(END)[0].removeprefix("\n")
