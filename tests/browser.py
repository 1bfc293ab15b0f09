"""Headless Chromium for tests that look at rendered HTML (Debian's `chromium` package).

The project installs it itself when missing (`ensure_chromium()`), so CI needs no extra step.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run")


def find_chromium() -> str | None:
    return next((path for path in map(shutil.which, CHROMIUM_NAMES) if path), None)


def ensure_chromium() -> str:
    """The Chromium binary; apt-installs Debian's `chromium` when there is none (needs root or sudo)."""
    found = find_chromium()
    if found:
        return found
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update"], ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]):
        subprocess.run([*prefix, *command], check=True, env=environment, stdout=subprocess.DEVNULL, timeout=900)
    found = find_chromium()
    if not found:
        raise RuntimeError("apt-get installed chromium but no chromium binary is on PATH")
    return found


def screenshot(page: Path, output: Path, *, width: int = 1400, height: int = 2000, timeout: float = 180) -> Path:
    """Render `page` (a local HTML file) in headless Chromium and save a PNG screenshot to `output`."""
    chromium = ensure_chromium()
    output.parent.mkdir(parents=True, exist_ok=True)
    output.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        completed = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={output}",
             f"--window-size={width},{height}", page.resolve().as_uri()],
            capture_output=True, text=True, timeout=timeout, check=False)
    if not output.exists():
        raise RuntimeError(f"chromium wrote no screenshot (exit {completed.returncode}): {completed.stderr[-2000:]}")
    return output
