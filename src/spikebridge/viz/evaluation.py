"""ROC and precision-recall curves of several models on one test part."""

from __future__ import annotations


def plot_roc_pr(results: dict, chance: float | None = None, title: str = ""):
    """Pooled ROC (left) and PR (right) curves, one line per model.

    Parameters
    ----------
    results : dict of str to EvaluationResult
    chance : float, optional
        Spike probability of the test part: the PR curve of a predictor that knows nothing.
    """
    from spikebridge.viz.matrix import _mpl

    plt = _mpl()
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(10, 4.2))
    for name, res in results.items():
        auc = res.metric("roc_auc_pooled").value
        ap = res.metric("ap_pooled").value
        ax_roc.plot(res.roc_curve.x, res.roc_curve.y, lw=1.2, label=f"{name} ({auc:.3f})")
        ax_pr.plot(res.pr_curve.x, res.pr_curve.y, lw=1.2, label=f"{name} ({ap:.3f})")
    ax_roc.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax_roc.set(xlabel="false-positive rate", ylabel="true-positive rate", title="ROC (pooled over units)")
    if chance is not None:
        ax_pr.axhline(chance, color="k", ls=":", lw=0.8, label=f"chance ({chance:.4f})")
    ax_pr.set(xlabel="recall", ylabel="precision", title="precision-recall (pooled)", yscale="log")
    ax_roc.legend(fontsize=7, loc="lower right")
    ax_pr.legend(fontsize=7, loc="upper right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
