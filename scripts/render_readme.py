"""Render README.md's result sections from the study summary kept in docs/results/.

    python scripts/render_readme.py                       # re-render from docs/results/study_summary.json
    python scripts/render_readme.py --from spikebridge-out/study/study_summary.json   # adopt a new run first
    python scripts/render_readme.py --check               # exit 1 when README.md is not the rendering

`spikebridge study` writes study_summary.json into its output folder; adopting it copies it to
docs/results/ (the committed record of the numbers the README shows) and rewrites the README's text
between the results markers. Nothing in that text is typed by hand.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from spikebridge.atomic import write_text_atomic  # noqa: E402
from spikebridge.report.readme import current_results, render_results, replace_results  # noqa: E402

SUMMARY = ROOT / "docs" / "results" / "study_summary.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", type=Path, help="a study_summary.json to adopt first")
    parser.add_argument("--summary", type=Path, default=SUMMARY, help="the summary to render")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md")
    parser.add_argument("--check", action="store_true", help="only check that the README is up to date")
    args = parser.parse_args(argv)
    if args.source is not None:
        args.summary.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(args.source, args.summary)
    rendered = render_results(json.loads(args.summary.read_text()))
    readme = args.readme.read_text()
    if args.check:
        if current_results(readme) != rendered:
            print(f"{args.readme}: results sections differ from {args.summary}; run scripts/render_readme.py")
            return 1
        return 0
    write_text_atomic(args.readme, replace_results(readme, rendered))
    print(f"{args.readme}: results sections rendered from {args.summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
