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


def time_left(done: int, total: int, elapsed_s: float) -> str:
    """Words for the time left after ``done`` of ``total`` items took ``elapsed_s`` seconds.

    The estimate is the mean time per finished item times the items left ("about 3 min left",
    "about 40 s left"); "done" when nothing is left and "" before the first item finishes.
    """
    if done >= total:
        return "done"
    if done <= 0 or elapsed_s <= 0:
        return ""
    left = elapsed_s / done * (total - done)
    return f"about {left / 60:.0f} min left" if left >= 90 else f"about {left:.0f} s left"
