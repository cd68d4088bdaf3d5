"""The report's section contract: frozen dataclasses holding data only, rendered by :mod:`.engine`.

A report section function (of any part of spikebridge) returns a :class:`Section` whose blocks are
tables, figures (alone or in a gallery), interactive plotly figures, paragraphs, claims and
key-value lists. Figures hold
their image bytes, so the rendered page embeds them and opens offline. Nothing here writes markup.

Example
-------
>>> Section("demo", "Demo", (Paragraph("Two numbers."), Table("Numbers", ("a", "b"), ((1, 2.5),))))
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spikebridge.errors import SpikebridgeConfigError, SpikebridgeDataError

Cell = str | int | float | None
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".svg": "image/svg+xml"}
STATUSES = ("supports", "contradicts", "inconclusive")


def format_cell(value: Cell, digits: int = 3) -> str:
    """Text of one table cell: floats with ``digits`` decimals, ``-`` for None and NaN."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if value != value else f"{value:.{digits}f}"
    return str(value)


@dataclass(frozen=True)
class Table:
    """A table of already computed values.

    Attributes
    ----------
    caption : str
    header : tuple of str
    rows : tuple of tuples
        One tuple per row, as long as ``header``; cells are str, int, float (3 decimals) or None (``-``).
    notes : tuple of str
        Sentences printed under the table (sources, definitions of columns).
    collapsed : bool
        Show only the caption until the reader opens it (for long secondary tables).
    """

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()
    collapsed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "header", tuple(self.header))
        object.__setattr__(self, "rows", tuple(tuple(r) for r in self.rows))
        object.__setattr__(self, "notes", tuple(self.notes))
        for i, row in enumerate(self.rows):
            if len(row) != len(self.header):
                raise SpikebridgeConfigError(
                    f"table {self.caption!r}: row {i} has {len(row)} cells for {len(self.header)} columns"
                )

    def text_rows(self) -> list[list[str]]:
        return [[format_cell(c) for c in row] for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {
            "caption": self.caption,
            "header": list(self.header),
            "rows": self.text_rows(),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class Figure:
    """A static image embedded in the page as a data URI.

    Build it with :meth:`from_path` (a PNG, JPEG or SVG file) or :meth:`from_matplotlib`.
    """

    data: bytes = field(repr=False)
    mime: str
    caption: str
    alt: str = ""

    @classmethod
    def from_path(cls, path: str | Path, caption: str, alt: str = "") -> Figure:
        path = Path(path)
        mime = IMAGE_TYPES.get(path.suffix.lower())
        if mime is None:
            raise SpikebridgeDataError(
                f"{path}: not an image the report can embed ({', '.join(IMAGE_TYPES)})"
            )
        if not path.is_file():
            raise SpikebridgeDataError(f"{path}: figure file not found")
        return cls(path.read_bytes(), mime, caption, alt or caption)

    @classmethod
    def from_matplotlib(cls, fig, caption: str, alt: str = "", dpi: int = 110) -> Figure:
        """Render a matplotlib Figure to PNG bytes and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        plt.close(fig)
        return cls(buf.getvalue(), "image/png", caption, alt or caption)

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "mime": self.mime, "bytes": len(self.data)}


@dataclass(frozen=True)
class Gallery:
    """Several small figures side by side (wrapping), each with its caption, under one caption."""

    caption: str
    figures: tuple[Figure, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "figures", tuple(self.figures))

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "figures": [f.to_dict() for f in self.figures]}


@dataclass(frozen=True)
class Plotly:
    """An interactive plotly figure, drawn by the plotly.js the page embeds once."""

    spec: str = field(repr=False)
    caption: str
    height: int = 560

    @classmethod
    def from_figure(cls, fig, caption: str, height: int = 560) -> Plotly:
        """Keep a ``plotly.graph_objects.Figure`` as its JSON specification."""
        return cls(fig.to_json(), caption, height)

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "height": self.height}


@dataclass(frozen=True)
class Paragraph:
    """A paragraph of text produced by code (``emphasis`` draws it as a highlighted statement)."""

    text: str
    emphasis: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "emphasis": self.emphasis}


@dataclass(frozen=True)
class Claim:
    """A published claim, where it is stated, and the sentences our statistics produce about it.

    Attributes
    ----------
    claim : str
        The claim in one line (paraphrased; ``source`` says where the paper states it).
    source : str
    checks : tuple of (status, sentence)
        ``status`` is one of ``supports``, ``contradicts``, ``inconclusive``.
    """

    claim: str
    source: str
    checks: tuple[tuple[str, str], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "checks", tuple(tuple(c) for c in self.checks))
        for status, _ in self.checks:
            if status not in STATUSES:
                raise SpikebridgeConfigError(f"claim status must be one of {STATUSES}, got {status!r}")

    def to_dict(self) -> dict[str, Any]:
        return {"claim": self.claim, "source": self.source, "checks": [list(c) for c in self.checks]}


@dataclass(frozen=True)
class KeyValues:
    """A two-column list of labelled values (provenance, settings); ``code`` values show as JSON blocks.

    ``collapsed`` shows only the caption until the reader opens it.
    """

    caption: str
    items: tuple[tuple[str, str], ...]
    code: bool = False
    collapsed: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "items", tuple((str(k), str(v)) for k, v in self.items))

    def to_dict(self) -> dict[str, Any]:
        return {"caption": self.caption, "items": dict(self.items)}


Block = Table | Figure | Gallery | Plotly | Paragraph | Claim | KeyValues


@dataclass(frozen=True)
class Section:
    """A titled part of the report: blocks, then subsections (listed in the table of contents).

    ``id`` becomes the HTML anchor: letters, digits, ``-`` and ``_`` only.
    """

    id: str
    title: str
    blocks: tuple[Block, ...] = ()
    subsections: tuple[Section, ...] = ()

    def __post_init__(self) -> None:
        if not self.id or not all(c.isalnum() or c in "-_" for c in self.id):
            raise SpikebridgeConfigError(f"section id must be letters, digits, - or _, got {self.id!r}")
        object.__setattr__(self, "blocks", tuple(self.blocks))
        object.__setattr__(self, "subsections", tuple(self.subsections))
        for b in self.blocks:
            if not isinstance(b, Block):
                raise SpikebridgeConfigError(f"section {self.id!r}: {type(b).__name__} is not a report block")

    def walk(self):
        """This section and every subsection, depth first."""
        yield self
        for sub in self.subsections:
            yield from sub.walk()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "blocks": [{"kind": type(b).__name__, **b.to_dict()} for b in self.blocks],
            "subsections": [s.to_dict() for s in self.subsections],
        }


@dataclass(frozen=True)
class Report:
    """A whole report: a title, a one-line stamp (version, commit, date) and its sections."""

    title: str
    sections: tuple[Section, ...]
    stamp: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "sections", tuple(self.sections))
        ids = [s.id for top in self.sections for s in top.walk()]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise SpikebridgeConfigError(f"report section ids must be unique, repeated: {', '.join(dupes)}")

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "stamp": self.stamp, "sections": [s.to_dict() for s in self.sections]}
