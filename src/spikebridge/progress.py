"""A rich progress bar that costs nothing when disabled."""

from __future__ import annotations

from collections.abc import Callable


class progress_bar:
    """Context manager yielding ``advance(n)``: a transient rich progress bar, or a no-op when disabled.

    Parameters
    ----------
    enabled : bool
    total : int
        Units of work (windows, bins, ...).
    label : str
        Text shown before the bar.
    """

    def __init__(self, enabled: bool, total: int, label: str = "working") -> None:
        self.enabled, self.total, self.label, self.bar = enabled, total, label, None

    def __enter__(self) -> Callable[[int], None]:
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task(self.label, total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.stop()
