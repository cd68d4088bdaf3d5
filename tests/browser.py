"""Open an HTML file in headless Chromium (Debian's chromium + chromium-driver, driven by selenium).

``python tests/browser.py REPORT.html SHOT.png`` prints what the page loaded and saves a screenshot.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
INSTALL = Path(__file__).resolve().parents[1] / "scripts" / "install_browser.sh"
# Without the background-networking flags a closed network makes Chromium log refused connections.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--enable-unsafe-swiftshader",  # software WebGL for plotly's 3-D scene
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
)

PAGE_STATE = """
return {
  images: Array.from(document.images).map(i => ({complete: i.complete, width: i.naturalWidth,
                                                  alt: i.alt})),
  plots: Array.from(document.querySelectorAll('.plotly-figure')).map(d => ({
    id: d.id, rendered: d.classList.contains('js-plotly-plot'),
    gl: d.querySelectorAll('canvas').length, svg: d.querySelectorAll('svg').length})),
  headings: Array.from(document.querySelectorAll('h2')).map(h => h.textContent),
};
"""


def ensure_browser() -> str | None:
    """Install Chromium and ChromeDriver when missing; the reason they are unavailable, or None."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    done = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=900, check=False)
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return None
    return f"Chromium could not be installed: {(done.stderr or done.stdout).strip()[-300:] or 'no output'}"


@dataclass
class PageCheck:
    """What a page showed: its images, plotly figures, h2 headings, console messages, screenshot."""

    images: list[dict]
    plots: list[dict]
    headings: list[str]
    console: list[dict]
    screenshot: Path

    def errors(self) -> list[dict]:
        return [m for m in self.console if m.get("level") in ("SEVERE", "ERROR")]


def _driver(width: int, height: int, profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))


def check_page(
    html: Path, screenshot: Path, width: int = 1280, height: int = 2600, timeout: float = 40
) -> PageCheck:
    """Load ``html`` from disk, wait for its images and plotly figures, save a screenshot of the top."""
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        driver = _driver(width, height, profile)
        try:
            driver.get(Path(html).resolve().as_uri())
            deadline = time.monotonic() + timeout
            state = driver.execute_script(PAGE_STATE)
            while time.monotonic() < deadline and not _settled(state):
                time.sleep(0.25)
                state = driver.execute_script(PAGE_STATE)
            driver.save_screenshot(str(screenshot))
            console = driver.get_log("browser")
        finally:
            driver.quit()
    return PageCheck(state["images"], state["plots"], state["headings"], console, Path(screenshot))


def _settled(state: dict) -> bool:
    images = all(i["complete"] for i in state["images"])
    return images and all(p["rendered"] and (p["gl"] or p["svg"]) for p in state["plots"])


if __name__ == "__main__":
    reason = ensure_browser()
    if reason:
        sys.exit(reason)
    check = check_page(Path(sys.argv[1]), Path(sys.argv[2]))
    print(f"images {check.images}\nplots {check.plots}\nheadings {check.headings}\nerrors {check.errors()}")
    print(f"screenshot: {check.screenshot}")
