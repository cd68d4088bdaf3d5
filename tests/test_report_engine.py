"""The report engine: escaping, embedded images, plotly.js once, table of contents, the block contract."""

from __future__ import annotations

import base64
import json
import re
from importlib import resources

import pytest

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError
from spikebridge.report.blocks import (
    Claim,
    Figure,
    Gallery,
    KeyValues,
    Paragraph,
    Plotly,
    Report,
    Section,
    Table,
    format_cell,
)
from spikebridge.report.engine import render_report, script_json, write_report

# A valid 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
EVIL = "<script>alert(1)</script>"


def _plotly(caption: str) -> Plotly:
    import plotly.graph_objects as go

    return Plotly.from_figure(
        go.Figure(go.Scatter3d(x=[0, 1], y=[1, 0], z=[0, 1], text=[EVIL, "b"])), caption
    )


def test_text_from_data_is_escaped_everywhere():
    blocks = (
        Paragraph(EVIL),
        Table(EVIL, (EVIL,), ((EVIL,),), notes=(EVIL,)),
        Claim(EVIL, EVIL, (("supports", EVIL),)),
        KeyValues(EVIL, ((EVIL, EVIL),)),
        Figure(PNG, "image/png", EVIL, EVIL),
    )
    page = render_report(Report(EVIL, (Section("s", EVIL, blocks),), stamp=EVIL))
    assert "<script>alert" not in page
    # title, h1, stamp, contents link, h2, paragraph, 4 in the table, 3 in the claim, 3 in the list, 2 in the figure
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") == 18


def test_images_are_data_uris_of_their_bytes(tmp_path):
    (tmp_path / "dot.png").write_bytes(PNG)
    fig = Figure.from_path(tmp_path / "dot.png", "a dot")
    gallery = Gallery("two dots", (fig, Figure(PNG, "image/png", "b")))
    page = render_report(Report("t", (Section("s", "S", (fig, gallery)),), stamp="x"))
    uri = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert page.count(f'<img src="{uri}"') == 3
    assert re.findall(r'(?:src|href)="(?!data:|#)', page) == []  # nothing is fetched from elsewhere


def test_matplotlib_figures_become_png_bytes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [1, 0])
    block = Figure.from_matplotlib(fig, "a line", dpi=50)
    assert block.mime == "image/png" and block.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)  # closed once embedded


def test_plotly_js_is_embedded_once_and_only_when_needed():
    from plotly.offline import get_plotlyjs

    signature = get_plotlyjs()[:300]
    page = render_report(Report("t", (Section("a", "A", (_plotly("one"), _plotly("two"))),), stamp="x"))
    assert page.count(signature) == 1
    assert re.findall(r'Plotly\.newPlot\("([^"]+)"', page) == ["plotly-a-1", "plotly-a-2"]
    assert "<script>alert" not in page
    plain = render_report(Report("t", (Section("a", "A", (Paragraph("no plot"),)),), stamp="x"))
    assert signature not in plain and len(plain) < 20_000


def test_script_json_cannot_close_its_script_element():
    text = json.dumps({"a": "</script><b>&'"})
    safe = str(script_json(text))
    assert not set("<>&'") & set(safe)
    assert json.loads(safe) == json.loads(text)


def test_contents_nest_subsections_with_anchors():
    report = Report("t", (Section("a", "A", subsections=(Section("b", "B"),)), Section("c", "C")), stamp="x")
    page = render_report(report)
    nav = page[page.index("<nav") : page.index("</nav>")]
    assert re.findall(r'href="#(\w)">(\w)<', nav) == [("a", "A"), ("b", "B"), ("c", "C")]
    assert re.search(r'href="#a">A</a><ol>\s*<li><a href="#b">B</a></li>\s*</ol>\s*</li>', nav)
    assert '<section id="b">\n<h3>B</h3>' in page


def test_collapsed_tables_show_their_caption_as_a_summary():
    page = render_report(Report("t", (Section("a", "A", (Table("long", ("x",), ((1,),), collapsed=True),)),)))
    assert "<details><summary>long</summary>" in page and "<caption>long</caption>" not in page


def test_the_contract_refuses_bad_blocks(tmp_path):
    with pytest.raises(SpikebridgeConfigError, match="table 'T': row 1 has 1 cells for 2 columns"):
        Table("T", ("a", "b"), ((1, 2), (3,)))
    with pytest.raises(SpikebridgeConfigError, match="section id"):
        Section("has space", "x")
    with pytest.raises(SpikebridgeConfigError, match="repeated: b"):
        Report("t", (Section("a", "A", subsections=(Section("b", "B"),)), Section("b", "B2")))
    with pytest.raises(SpikebridgeConfigError, match="str is not a report block"):
        Section("a", "A", ("<p>raw html</p>",))
    with pytest.raises(SpikebridgeConfigError, match="claim status"):
        Claim("c", "s", (("maybe", "text"),))
    with pytest.raises(SpikebridgeDataError, match="figure file not found"):
        Figure.from_path(tmp_path / "missing.png", "x")
    with pytest.raises(SpikebridgeDataError, match="not an image"):
        Figure.from_path(tmp_path / "data.csv", "x")


def test_cells_are_formatted_one_way():
    assert [format_cell(v) for v in (None, float("nan"), 0.12345, 3, "a")] == ["-", "-", "0.123", "3", "a"]
    table = Table("c", ("x", "y"), ((0.5, None),))
    assert table.to_dict()["rows"] == [["0.500", "-"]]


def test_numbers_are_right_aligned_and_text_left():
    page = render_report(
        Report("t", (Section("a", "A", (Table("c", ("m", "v"), (("glm", "0.5 [0.4, 0.6]"),)),)),))
    )
    assert '<td>glm</td><td class="num">0.5 [0.4, 0.6]</td>' in page


def test_templates_ship_with_the_package(tmp_path):
    folder = resources.files("spikebridge.report") / "templates"
    assert {p.name for p in folder.iterdir()} >= {"report.html.j2", "blocks.html.j2", "style.css.j2"}
    path = write_report(Report("t", (Section("a", "A"),), stamp="s"), tmp_path / "r.html")
    assert path.read_text() == render_report(Report("t", (Section("a", "A"),), stamp="s"))


def test_capability_sections_come_after_the_matrix_and_before_provenance():
    from spikebridge.report.study import study_report

    report = study_report(
        [],
        [],
        None,
        {"rec": "abc"},
        {},
        {"whole study": 60.0},
        capabilities=(Section("generation", "Generated spikes"),),
    )
    assert [s.id for s in report.sections] == ["summary", "recordings", "generation", "provenance"]
