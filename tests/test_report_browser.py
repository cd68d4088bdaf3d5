"""The study report opened in headless Chromium: every image and the 3-D map load, no console errors.

The report is built from a seeded synthetic study (no training) by the real section functions; the
screenshot of the top of the page is saved in the test's folder and its path printed.
"""

from __future__ import annotations

import re

import pytest

from browser import check_page
from report_fixtures import NAMES, synthetic_study_report
from spikebridge.report.engine import write_report

SECTIONS = [
    "summary",
    "recordings",
    "evaluation",
    "eval-vitro-a-vitro-a",
    "matrix",
    "matrix-table2",
    "matrix-heatmaps",
    "matrix-bars",
    "matrix-proximity",
    "matrix-training",
    "claims",
    "provenance",
]


@pytest.fixture(scope="module")
def report_page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    return write_report(synthetic_study_report(folder), folder / "report.html")


def test_report_holds_every_section_offline(report_page):
    page = report_page.read_text()
    assert re.findall(r'<section id="([^"]+)"', page) == SECTIONS
    markup = re.sub(r"<script>.*?</script>", "", page, flags=re.S)  # plotly.js holds URLs in its strings
    assert re.findall(r'(?:src|href)="(?!data:|#)', markup) == []  # nothing to fetch: opens offline
    assert "<script src" not in page and "<link" not in page
    assert (
        len(re.findall(r'<img src="data:image/png;base64,', page)) == 11
    )  # ROC/PR + training, 6 heatmaps, 2 bars, matrix training
    assert page.count("Plotly.newPlot(") == 1
    headline = page[
        page.index("Headline: prediction") : page.index("</table>", page.index("Headline: prediction"))
    ]
    assert [r for r in ("best neural model", "strongest baseline", "firing rates only") if r in headline] == [
        "best neural model",
        "strongest baseline",
        "firing rates only",
    ]
    assert "published ROC-AUC (quoted)" in page and "0.70 ± 0.09" in page
    for k, name in enumerate(NAMES):  # every recording's data hash is listed
        assert f'<tr><td>{name}</td><td class="num">{k:016x}</td></tr>' in page


def test_report_renders_in_headless_chromium(report_page, chromium, tmp_path):
    shot = tmp_path / "report.png"
    check = check_page(report_page, shot)
    print(f"screenshot: {shot}")
    assert len(check.images) == 11
    assert all(img["complete"] and img["width"] > 0 for img in check.images), check.images
    assert len(check.plots) == 1 and check.plots[0]["rendered"] and check.plots[0]["gl"] >= 1, check.plots
    assert check.errors() == []
    assert check.headings[1:3] == ["Summary", "Recordings"]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000


def test_an_impossible_install_gives_the_reason(tmp_path, monkeypatch):
    import browser

    failing = tmp_path / "install.sh"
    failing.write_text("echo 'installing chromium needs root and apt-get' >&2; exit 1\n")
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(browser, "INSTALL", failing)
    assert (
        browser.ensure_browser()
        == "Chromium could not be installed: installing chromium needs root and apt-get"
    )
