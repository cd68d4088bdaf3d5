"""Render a :class:`~spikebridge.report.blocks.Report` to one self-contained HTML file with Jinja2.

Every image is embedded as a data URI and plotly.js is embedded once, inline, only when the report
holds an interactive figure: the page opens offline. Templates ship with the package
(``spikebridge/report/templates/*.j2``); autoescaping is on, so text from data never becomes markup.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from spikebridge import __version__
from spikebridge.atomic import write_text_atomic
from spikebridge.report.blocks import Claim, Figure, Gallery, KeyValues, Paragraph, Plotly, Report, Table

NUMERIC = re.compile(r"^(-|[-+]?\.?\d.*)$")  # cell text drawn right-aligned: numbers, intervals, "-"


@lru_cache(maxsize=1)
def environment():
    """The Jinja2 environment of the report templates (autoescape on, undefined names are errors)."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=PackageLoader("spikebridge.report", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["data_uri"] = data_uri
    env.filters["script_json"] = script_json
    env.tests["table"] = lambda b: isinstance(b, Table)
    env.tests["figure"] = lambda b: isinstance(b, Figure)
    env.tests["gallery"] = lambda b: isinstance(b, Gallery)
    env.tests["numeric_text"] = lambda text: bool(NUMERIC.match(text))
    env.tests["plotly"] = lambda b: isinstance(b, Plotly)
    env.tests["paragraph"] = lambda b: isinstance(b, Paragraph)
    env.tests["claim"] = lambda b: isinstance(b, Claim)
    env.tests["keyvalues"] = lambda b: isinstance(b, KeyValues)
    return env


def data_uri(fig: Figure) -> str:
    """``data:<mime>;base64,...`` of a figure's bytes."""
    return f"data:{fig.mime};base64,{base64.b64encode(fig.data).decode('ascii')}"


def script_json(text: str):
    """JSON text made safe inside a ``<script>`` element (``<``, ``>``, ``&``, ``'`` as \\u escapes)."""
    from markupsafe import Markup

    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("'", "\\u0027")):
        text = text.replace(char, code)
    return Markup(text)  # noqa: S704 - escaped above for the script context


def _plotly_js():
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs())  # the library's own minified bundle, shipped with the plotly package


def default_stamp() -> str:
    """``spikebridge <version>, commit <sha>, <UTC time>`` for the top of a report."""
    from spikebridge.provenance import git_commit

    return f"spikebridge {__version__}, commit {git_commit() or 'unknown'}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"


def render_report(report: Report) -> str:
    """The whole HTML page of ``report`` as a string."""
    has_plotly = any(isinstance(b, Plotly) for top in report.sections for s in top.walk() for b in s.blocks)
    template = environment().get_template("report.html.j2")
    return template.render(
        report=report,
        stamp=report.stamp or default_stamp(),
        plotly_js=_plotly_js() if has_plotly else None,
    )


def write_report(report: Report, path: str | Path) -> Path:
    """Render ``report`` and write it atomically to ``path``; returns the path."""
    path = Path(path)
    write_text_atomic(path, render_report(report))
    return path
