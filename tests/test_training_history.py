"""A fit's per-epoch log read back exactly, refused when broken, and drawn as three panels."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest

from report_fixtures import write_history
from spikebridge.errors import SpikebridgeDataError
from spikebridge.training.history import read_history


def test_history_is_read_back_exactly(tmp_path):
    h = read_history(write_history(tmp_path / "m", [0.7, 0.8, 0.75], best_epoch=1))
    assert h.epochs == (0, 1, 2)
    assert h.train_loss == (0.5, 0.25, 0.1667)
    assert h.val_loss == (0.65, 0.35, 0.25)
    assert h.val_auc == (0.7, 0.8, 0.75)
    assert h.val_auc_unit_mean == pytest.approx((0.4, 0.5, 0.45))
    assert h.best_epoch == 1
    assert h.to_dict()["epochs"] == [0, 1, 2]


def test_missing_values_and_model_json_are_tolerated(tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "metrics.csv").write_text("epoch,train_loss,val_loss,val_auc\n0,0.5,0.6,\n")
    h = read_history(folder)
    assert math.isnan(h.val_auc[0]) and math.isnan(h.val_auc_unit_mean[0]) and h.best_epoch is None
    assert h.to_dict()["val_auc"] == [None]


def test_broken_logs_are_refused_naming_the_file(tmp_path):
    with pytest.raises(SpikebridgeDataError, match=r"m/metrics.csv: no per-epoch training log"):
        read_history(tmp_path / "m")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "metrics.csv").write_text("epoch,train_loss\n0,0.5\n")
    with pytest.raises(SpikebridgeDataError, match=r"metrics.csv: missing column\(s\) val_loss, val_auc"):
        read_history(tmp_path / "m")
    (tmp_path / "m" / "metrics.csv").write_text("epoch,train_loss,val_loss,val_auc\n")
    with pytest.raises(SpikebridgeDataError, match="no epoch logged"):
        read_history(tmp_path / "m")


def test_training_curves_have_three_panels_and_mark_the_kept_epoch(tmp_path):
    import matplotlib.pyplot as plt

    from spikebridge.viz.training import plot_training_curves

    histories = {
        "dice": read_history(write_history(tmp_path / "d", [0.7, 0.8, 0.75], 1)),
        "focal": read_history(write_history(tmp_path / "f", [0.6, 0.7], 0)),
    }
    fig = plot_training_curves(histories, title="t")
    ax_tr, ax_val, ax_auc = fig.axes
    assert ax_tr.get_yscale() == "linear" and ax_val.get_yscale() == "linear"  # losses within a factor of 20
    assert len(ax_tr.get_lines()) == 2
    kept = [line for line in ax_val.get_lines() if line.get_marker() == "o"]
    assert [(list(k.get_xdata()), list(k.get_ydata())) for k in kept] == [([1], [0.35]), ([0], [0.65])]
    plt.close(fig)
    small = replace(
        read_history(write_history(tmp_path / "s", [0.6], 0)), train_loss=(0.001,), val_loss=(0.002,)
    )
    fig = plot_training_curves({**histories, "bce": small})
    assert fig.axes[0].get_yscale() == "log" and fig.axes[1].get_yscale() == "log"  # spread over 500x
    plt.close(fig)
