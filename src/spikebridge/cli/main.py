"""The ``spikebridge`` command line: thin Typer commands over the library.

Expected failures (bad files, bad options) print one line ``error: ...`` and exit with status 2;
warnings print as ``warning: ...`` lines.
"""

from __future__ import annotations

import sys
import warnings

import typer

from spikebridge import __version__
from spikebridge.cli import (
    data_commands,
    eval_commands,
    explain_commands,
    generate_commands,
    matrix_commands,
    model_commands,
    quantformer_commands,
    study_commands,
)
from spikebridge.errors import SpikebridgeError

app = typer.Typer(
    name="spikebridge",
    help="Learn neural population spike activity and generate it across recordings and preparations.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(data_commands.datasets_app, name="datasets")
app.command("prepare")(data_commands.prepare_cmd)
model_commands.register(app)
matrix_commands.register(app)
eval_commands.register(app)
study_commands.register(app)
explain_commands.register(app)
generate_commands.register(app)
quantformer_commands.register(app)


@app.callback(invoke_without_command=True)
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")) -> None:
    if version:
        typer.echo(f"spikebridge {__version__}")
        raise typer.Exit()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``spikebridge`` script."""
    warnings.showwarning = _show_warning
    try:
        app(args=argv, standalone_mode=False)
    except SpikebridgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.Exit):
            return exc.exit_code
        if isinstance(exc, click.ClickException):
            exc.show()
            return exc.exit_code
        if isinstance(exc, click.exceptions.Abort):
            return 1
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
