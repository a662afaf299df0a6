"""The PDF of the board report: headless Chromium prints the report's HTML file.

The PDF is the HTML printed, not a second layout, so the two cannot differ. Chromium is Debian's
``chromium`` package (``/usr/bin/chromium``; ``$SPENDWATCH_CHROMIUM`` names another binary).
Each print gets a throwaway profile directory, so two reports printed at once do not fight
over a profile lock. ``--no-sandbox`` is passed only when running as root, where Chromium
refuses to start without it, or when ``$SPENDWATCH_CHROMIUM_NO_SANDBOX`` is set, for a
container whose seccomp profile leaves Chromium no usable sandbox: the page is a local file
that loads nothing and runs no script, so the sandbox guards little there. A missing Chromium, a
print that fails or one that leaves no PDF is a :class:`ReportError` that says what to do.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["CHROMIUM", "NO_SANDBOX_ENV", "PRINT_TIMEOUT_S", "ReportError", "chromium_command",
           "find_chromium", "print_pdf"]

CHROMIUM = "/usr/bin/chromium"
NO_SANDBOX_ENV = "SPENDWATCH_CHROMIUM_NO_SANDBOX"
PRINT_TIMEOUT_S = 120


class ReportError(ValueError):
    """A report that cannot be made as asked; the message says what was wrong and what to do."""


def find_chromium() -> str:
    """The Chromium binary, or a :class:`ReportError` saying how to install it."""
    configured = os.environ.get("SPENDWATCH_CHROMIUM")
    for candidate in (configured, CHROMIUM, shutil.which("chromium"),
                      shutil.which("chromium-browser")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    if configured:
        raise ReportError(f"$SPENDWATCH_CHROMIUM is {configured!r}, which is not an executable "
                          "file; point it at Chromium or unset it")
    raise ReportError("the PDF is printed by headless Chromium, which is not installed; "
                      "install the chromium package (apt-get install chromium) or choose "
                      "--format md, csv or html")


def chromium_command(binary: str, profile: Path, *args: str) -> list[str]:
    """A headless Chromium command line with its own profile directory."""
    root = hasattr(os, "geteuid") and os.geteuid() == 0
    sandbox = ["--no-sandbox"] if root or os.environ.get(NO_SANDBOX_ENV) else []
    return [binary, "--headless", "--disable-gpu", *sandbox, "--no-first-run",
            "--disable-extensions", f"--user-data-dir={profile}", *args]


def print_pdf(html: Path, pdf: Path, *, binary: str | None = None) -> None:
    """Print ``html`` (a file) to ``pdf`` with headless Chromium."""
    chromium = binary or find_chromium()
    with tempfile.TemporaryDirectory(prefix="spendwatch-chromium-") as profile:
        command = chromium_command(chromium, Path(profile), "--no-pdf-header-footer",
                                   f"--print-to-pdf={pdf}", html.resolve().as_uri())
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=PRINT_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise ReportError(f"Chromium did not print the PDF within {PRINT_TIMEOUT_S} s; "
                              "try again, or use --format html and print from a browser"
                              ) from None
        except OSError as exc:
            raise ReportError(f"Chromium could not be started ({exc.strerror}); check the "
                              "chromium package is installed") from None
    if done.returncode != 0 or not pdf.is_file() or pdf.read_bytes()[:5] != b"%PDF-":
        if "No usable sandbox" in done.stderr:
            raise ReportError(f"Chromium found no usable sandbox here (a container's seccomp "
                              f"profile blocks it); set {NO_SANDBOX_ENV}=1 to print this local "
                              "file without it, or use --format html")
        lines = [line for line in done.stderr.splitlines() if "ERROR" in line][-3:]
        detail = f": {' / '.join(lines)}" if lines else ""
        raise ReportError(f"Chromium did not produce a PDF (exit {done.returncode}){detail}; "
                          "use --format html and print from a browser")
