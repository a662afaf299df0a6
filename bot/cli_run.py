"""`spendwatch run` (the scheduler and the chat side, until stopped) and `spendwatch demo`
(the main job once, on embedded defaults): the two commands that start the bot itself."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from bot.chat.console.render import console
from bot.cli_options import ConfigOption
from bot.demo import DEMO_DIR, run_demo
from bot.settings import load_settings
from bot.wiring import build_services

__all__ = ["demo_command", "run_command"]


def demo_command(
    workdir: Annotated[Path, typer.Option(
        help="The demo's own folder: its data, database and charts, started afresh each run."
    )] = DEMO_DIR,
) -> None:
    """The main job on embedded defaults: generated FOCUS data, SQLite, console output."""
    run_demo(workdir=workdir, interactive=sys.stdin.isatty())
    if sys.stdin.isatty():
        console.print("Try: .venv/bin/spendwatch costs --config <your config>  "
                      "(or SPENDWATCH_CONFIG) on your own exports.")


def run_command(
    config: ConfigOption = None,
    port: Annotated[int, typer.Option(help="HTTP mode: port for /slack/events, Teams' "
                                           "/api/messages and /healthz.",
                                      envvar="SPENDWATCH_PORT")] = 3000,
    host: Annotated[str, typer.Option(help="HTTP mode: address to listen on.")] = "0.0.0.0",
    metrics_port: Annotated[int | None, typer.Option(
        help="Serve /metrics and /healthz on this port of their own (Socket Mode and the "
             "console have no web server otherwise); default: /metrics on --port in HTTP mode.",
        envvar="SPENDWATCH_METRICS_PORT")] = None,
) -> None:
    """Run the scheduler and the chat side: Slack (Socket Mode or HTTP), Teams, or the
    console."""
    from bot.runner import Runtime, choose_mode  # the web server and chat SDKs: only here

    mode = choose_mode(os.environ)
    services = build_services(load_settings(config))
    runtime = Runtime(services, mode, port=port, host=host, metrics_port=metrics_port,
                      metrics_token=os.environ.get("SPENDWATCH_METRICS_TOKEN") or None,
                      freeze_heap=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        runtime.start()
        where = f" on port {runtime.http_port}" if mode.serves_http else ""
        chats = ", ".join(runtime.parts["deliverers"])
        console.print(f"spendwatch is running ({chats}; {mode.name} mode{where}); polling every "
                      f"{services.settings.schedule.poll_minutes} min. Ctrl-C stops it.")
        stop.wait()
    finally:
        runtime.stop()
        services.close()
