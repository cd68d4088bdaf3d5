"""The paper's Table 2 is quoted only with numbers its texts state, and laid beside ours cell for cell."""

from __future__ import annotations

import numpy as np

from conftest import DATA_ROOT
from spikebridge.experiments.matrix_summary import MatrixSummary
from spikebridge.report.published import TABLE2, mean_sd_text, table2_side_by_side

PAPERS = DATA_ROOT.parent / "papers"


def test_every_quoted_value_is_in_the_papers():
    v1 = (PAPERS / "shimono_invitro2invivo_preprint_v1.txt").read_text()
    v2 = (PAPERS / "shimono_invitro2invivo_v2_journal.txt").read_text()
    table = v1[v1.index("Conditions   Performance") : v1.index("Table 2. Performance Comparison")]
    for row in TABLE2:
        assert f"{row.mean:.2f}±{row.sd:.2f}" in table, row.condition
    assert len(TABLE2) == table.count("±")
    assert "0.92 ± 0.06" in v2 and "0.70 ± 0.09" in v2


def test_mean_sd_text():
    assert mean_sd_text([0.5, 0.7, float("nan")]) == "0.600 ± 0.141 (n = 2)"
    assert mean_sd_text([0.5]) == "0.500 ± 0.000 (n = 1)"
    assert mean_sd_text([]) == "-"


def test_side_by_side_table_matches_the_groups():
    names, preps = ["a", "b", "c"], ["in_vitro", "in_vitro", "in_vivo"]
    pooled = np.array([[0.9, 0.8, 0.7], [0.82, 0.92, 0.72], [0.75, 0.77, 0.85]])
    values = {
        ("paper-dice", "roc_auc_pooled"): pooled,
        ("paper-dice", "roc_auc_unit_mean"): pooled - 0.3,
        ("rate", "roc_auc_pooled"): np.full((3, 3), 0.8),
    }
    training = {("paper-dice", "roc_auc_pooled"): np.array([0.95, 0.93, 0.9])}
    table = table2_side_by_side(MatrixSummary(names, preps, values, training))
    rows = {r[0]: r for r in table.rows}
    assert rows["In vitro (training)"][1:3] == ("0.92 ± 0.06", "0.940 ± 0.014 (n = 2)")
    assert rows["In vivo (training)"][2] == "0.900 ± 0.000 (n = 1)"
    assert rows["In vitro -> in vitro (others)"][2:] == (
        "0.810 ± 0.014 (n = 2)",
        "0.800 ± 0.000 (n = 2)",
        mean_sd_text([0.5, 0.52]),
    )
    assert rows["In vivo -> in vitro"][2] == "0.760 ± 0.014 (n = 2)"
    assert rows["In vivo -> in vivo (others)"][2:] == ("-", "-", "-")  # one in vivo recording: no other
    assert table.header[1] == "published ROC-AUC (quoted)" and "preprint v1, Table 2" in table.notes[0]


def test_a_model_without_values_gives_dashes():
    summary = MatrixSummary(["a"], ["in_vitro"], {("rate", "roc_auc_pooled"): np.full((1, 1), 0.8)}, {})
    table = table2_side_by_side(summary, "paper-focal")
    assert all(r[2] == "-" and r[4] == "-" for r in table.rows)


def _paper_and_bridge_matrix() -> MatrixSummary:
    """Two recordings (in vitro a, in vivo b) with paper-dice, bridge-bce and rate values."""
    values = {
        ("paper-dice", "roc_auc_pooled"): np.array([[0.9, 0.7], [0.8, 0.85]]),
        ("paper-dice", "roc_auc_unit_mean"): np.full((2, 2), 0.5),
        ("bridge-bce", "roc_auc_pooled"): np.array([[0.95, 0.75], [0.85, 0.9]]),
        ("bridge-bce", "roc_auc_unit_mean"): np.array([[0.6, 0.55], [0.65, 0.7]]),
        ("rate", "roc_auc_pooled"): np.full((2, 2), 0.8),
    }
    return MatrixSummary(["a", "b"], ["in_vitro", "in_vivo"], values, {})


def test_spikebridges_model_gets_two_more_columns_when_the_matrix_holds_it():
    table = table2_side_by_side(_paper_and_bridge_matrix())
    assert table.header[5:] == ("ours: bridge-bce, pooled ROC-AUC", "ours: bridge-bce, per-unit ROC-AUC")
    rows = {r[0]: r for r in table.rows}
    assert rows["In vitro -> in vivo"][2:] == (
        "0.700 ± 0.000 (n = 1)",
        "0.800 ± 0.000 (n = 1)",
        "0.500 ± 0.000 (n = 1)",
        "0.750 ± 0.000 (n = 1)",
        "0.550 ± 0.000 (n = 1)",
    )
    assert len(table2_side_by_side(_paper_and_bridge_matrix(), also=None).header) == 5


def test_summary_sentence_gives_spikebridges_model_and_the_papers_on_off_diagonal_cells():
    from spikebridge.report.summary import summary_section

    (sentence,) = summary_section([], _paper_and_bridge_matrix()).blocks
    assert sentence.text == (
        "Cross-recording matrix of 2 recordings, on recordings a model was not trained on: bridge-bce "
        "per-unit ROC-AUC 0.600 ± 0.071 (n = 2), pooled ROC-AUC 0.800 ± 0.071 (n = 2); paper-dice per-unit "
        "ROC-AUC 0.500 ± 0.000 (n = 2), pooled ROC-AUC 0.750 ± 0.071 (n = 2); each target's firing rates "
        "alone (rate baseline) give pooled ROC-AUC 0.800 ± 0.000 (n = 2) (mean ± SD over cells)."
    )
