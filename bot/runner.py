"""``spendwatch run``: the scheduler and the chat side together, in the mode the environment asks.

* ``SLACK_BOT_TOKEN`` and ``SLACK_APP_TOKEN``: Socket Mode (no public URL needed);
* ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET``: HTTP mode on ``--port``: the web app of
  ``bot.web`` under uvicorn (``/slack/events``, signatures verified; ``/healthz``);
* ``SLACK_API_URL`` overrides the Web API base URL (GovSlack, tests);
* no Slack settings: the console chat (alerts printed as cards; the keys they offer, ``help``
  and ``/cost`` read from standard input, see ``bot.chat.console.input``).

Start-up checks come first: the configured sources exist, the playbook loads, and Slack takes
the tokens (``bot.chat.slack.startup``); each failure is one line for the user.

:class:`Runtime` holds the running parts so tests (and ``bench/slack_ack.py``) can start and
stop the real thing in-process. Secrets are read here, used, and never logged.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.anomaly.service import default_playbook
from bot.chat.port import ChatSender
from bot.outbox.deliverer import Deliverer
from bot.outbox.worker import DeliveryWorker
from bot.playbook import Playbook
from bot.scheduler import build_scheduler
from bot.settings import ConfigError, check_sources
from bot.wiring import Services

__all__ = ["Mode", "Runtime", "choose_mode"]

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.001  # seconds a thread may hold the GIL while others wait, in HTTP mode


@dataclass(frozen=True)
class Mode:
    name: str  # socket | http | console
    bot_token: str | None = None
    app_token: str | None = None
    signing_secret: str | None = None
    api_url: str | None = None

    def __repr__(self) -> str:  # never print secrets, even by accident
        return f"Mode({self.name!r}, api_url={self.api_url!r})"


def choose_mode(env: Mapping[str, str]) -> Mode:
    bot = env.get("SLACK_BOT_TOKEN") or None
    app = env.get("SLACK_APP_TOKEN") or None
    secret = env.get("SLACK_SIGNING_SECRET") or None
    api = env.get("SLACK_API_URL") or None
    if bot is None:
        if app or secret:
            raise ConfigError("SLACK_APP_TOKEN or SLACK_SIGNING_SECRET is set but "
                              "SLACK_BOT_TOKEN is not; set the bot token (xoxb-...) too")
        return Mode("console")
    if not bot.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN must be a bot token starting with xoxb-")
    if app:
        if not app.startswith("xapp-"):
            raise ConfigError("SLACK_APP_TOKEN must be an app-level token starting with xapp-")
        return Mode("socket", bot_token=bot, app_token=app, api_url=api)
    if secret:
        return Mode("http", bot_token=bot, signing_secret=secret, api_url=api)
    raise ConfigError("SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) nor "
                      "SLACK_SIGNING_SECRET (HTTP mode) is; set one of them")


@dataclass
class Runtime:
    services: Services
    mode: Mode
    port: int = 3000
    host: str = "0.0.0.0"
    schedule: bool = True
    stdin: Any = None  # console mode reads it (default: sys.stdin)
    playbook: Playbook = field(init=False)
    parts: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Runtime:
        check_sources(self.services.settings)  # a mistyped path stops here, not every poll
        self.playbook = default_playbook(self.services.settings)  # a broken YAML stops here
        sender = self._sender()
        deliverer = self.services.deliverer(
            sender, playbook=self.playbook,
            min_interval=(self.services.settings.schedule.channel_pace_seconds
                          if self.mode.name != "console" else 0.0))
        worker = DeliveryWorker(deliverer, interval=self.services.settings.schedule
                                .deliver_seconds).start()
        self.parts.update(deliverer=deliverer, worker=worker)
        if self.mode.name in ("http", "socket"):
            try:
                self._start_slack(worker)
            except BaseException:
                self.stop()  # no threads left behind by a start that failed
                raise
        if self.mode.name == "console":
            self._start_console_input(deliverer)
        if self.schedule:
            scheduler = build_scheduler(self.services, platforms=(sender.platform,),
                                        worker=worker)
            scheduler.start()
            self.parts["scheduler"] = scheduler
        return self

    def stop(self) -> None:
        if self.parts.get("console_input") is not None:
            self.parts["console_input"].stop()
        if "scheduler" in self.parts:
            self.parts["scheduler"].shutdown(wait=False)
        if "http" in self.parts:
            self.parts["http"].stop()
        if "socket" in self.parts:
            self.parts["socket"].close()
        if "listeners" in self.parts:
            self.parts["listeners"].shutdown(wait=False, cancel_futures=True)
        if "worker" in self.parts:
            self.parts["worker"].stop()

    @property
    def deliverer(self) -> Deliverer:
        return self.parts["deliverer"]

    def _sender(self) -> ChatSender:
        if self.mode.name == "console":
            from bot.chat.console.chat import ConsoleSender
            from bot.chat.console.render import console

            return ConsoleSender(console)
        from bot.chat.slack.sender import SlackSender, make_client
        from bot.chat.slack.startup import check_bot_token

        client = make_client(self.mode.bot_token or "", base_url=self.mode.api_url)
        check_bot_token(client)  # a wrong token or no route to Slack stops the start here
        self.parts["client"] = client
        return SlackSender(client)

    def _start_console_input(self, deliverer: Deliverer) -> None:
        from bot.chat.console.input import start_console_input
        from bot.chat.console.render import console

        self.parts["console_input"] = start_console_input(
            services=self.services, deliverer=deliverer, console=console,
            stream=self.stdin if self.stdin is not None else sys.stdin)

    def _start_slack(self, worker: DeliveryWorker) -> None:
        from bot.chat.slack.app import LISTENER_THREADS, build_app
        from bot.chat.slack.listeners import SlackContext

        ctx = SlackContext(services=self.services, playbook=self.playbook, wake=worker.wake)
        secret = self.mode.signing_secret if self.mode.name == "http" else None
        app = build_app(ctx, client=self.parts["client"], signing_secret=secret)
        self.parts["app"] = app
        self.parts["listeners"] = app.listener_runner.listener_executor
        if self.mode.name == "http":
            from bot.chat.slack.http import events_route
            from bot.web import WebServer, build_web_app

            # A click's answer passes between the event loop and a dispatch thread while the
            # outbox thread renders and sends: with Python's default 5 ms GIL switch interval
            # each hand-over can wait that long, which is what the slowest clicks of a burst
            # waited for (bench/slack_ack.py: p99 about 225 ms at 5 ms, about 160 ms at 1 ms).
            sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))

            route = events_route(app, signing_secret=self.mode.signing_secret or "",
                                 threads=LISTENER_THREADS)
            server = WebServer(build_web_app([route]), host=self.host, port=self.port)
            self.parts["http"] = server.start()
            log.info("HTTP mode: Slack requests on :%d/slack/events", server.port)
        else:
            from bot.chat.slack.startup import connect_socket_mode

            self.parts["socket"] = connect_socket_mode(app, app_token=self.mode.app_token or "")
            log.info("Socket Mode: connected")

    @property
    def http_port(self) -> int:
        return int(self.parts["http"].port)
