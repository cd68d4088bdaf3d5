"""The terminal console shared by the commands (wide when the output is not a terminal)."""

import sys

from rich.console import Console

console = Console(width=None if sys.stdout.isatty() else 200)
