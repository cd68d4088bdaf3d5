"""Files of one evaluation: its JSON record and its ROC / PR figure."""

from __future__ import annotations

import json
from pathlib import Path

from spikebridge.atomic import atomic_path, write_text_atomic


def write_evaluation(report, out: Path, stem: str) -> tuple[Path, Path]:
    """Write ``out/evaluate_{stem}.json`` and ``out/figures/roc_pr_{stem}.png``; return both paths."""
    import matplotlib.pyplot as plt

    from spikebridge.viz.evaluation import plot_roc_pr

    json_path = Path(out) / f"evaluate_{stem}.json"
    write_text_atomic(json_path, json.dumps(report.to_dict(), indent=1, default=str))
    title = report.source if report.source == report.target else f"{report.source} -> {report.target}"
    fig = plot_roc_pr(report.results, chance=report.chance, title=title)
    fig_path = Path(out) / "figures" / f"roc_pr_{stem}.png"
    with atomic_path(fig_path) as tmp:
        fig.savefig(tmp, dpi=130, format="png")
    plt.close(fig)
    return json_path, fig_path
