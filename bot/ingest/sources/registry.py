"""Which reader serves which ``type`` of source.

The readers are imported when a source of their type is configured, so a deployment that
reads only FOCUS files never loads boto3, httpx or a warehouse driver.
"""

from __future__ import annotations

import importlib
from typing import cast

from bot.ingest.sources.base import WindowSource
from bot.ingest.sources.config import WindowSourceSettings

__all__ = ["READERS", "window_source"]

# settings type -> (module under bot.ingest.sources, class)
READERS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "OpenAISource"),
    "anthropic": ("anthropic", "AnthropicSource"),
    "aws_cost_explorer": ("cost_explorer", "CostExplorerSource"),
    "sql": ("sql", "SqlSource"),
}


def window_source(settings: WindowSourceSettings) -> WindowSource:
    """The reader for ``settings``, built from them (credentials come from the environment)."""
    module, name = READERS[settings.type]
    reader = getattr(importlib.import_module(f"bot.ingest.sources.{module}"), name)
    return cast(WindowSource, reader(settings))
