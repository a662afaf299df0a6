"""Options every command shares, declared once so `--config` reads the same everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["ConfigOption"]

ConfigOption = Annotated[Path | None, typer.Option(
    "--config", "-c", help="YAML config file (default: $SPENDWATCH_CONFIG).")]
