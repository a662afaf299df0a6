"""``spendwatch run``: the scheduler and the chat side together, in the mode the environment asks.

* ``SLACK_BOT_TOKEN`` and ``SLACK_APP_TOKEN``: Socket Mode (no public URL needed);
* ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET``: HTTP mode on ``--port``: the web app of
  ``bot.web`` under uvicorn (``/slack/events``, signatures verified; ``/healthz``);
* ``SLACK_API_URL`` overrides the Web API base URL (GovSlack, tests);
* no Slack settings: the console chat (alerts printed as cards; the keys they offer, ``help``
  and ``/cost`` read from standard input, see ``bot.chat.console.input``);
* ``TEAMS_CLIENT_ID``, ``TEAMS_CLIENT_SECRET`` and ``TEAMS_TENANT_ID``: Microsoft Teams too,
  on ``/api/messages`` of the same web server (``bot.chat.teams``), beside Slack in either
  mode or alone (then there is no console chat). Each platform has its own outbox deliverer;
  one worker thread sends for all of them.

Metrics (``bot.metrics``) are served on ``/metrics`` of the same web server, or, with
``metrics_port`` (``spendwatch run --metrics-port``), on a small web server of their own with
``/healthz``: the way to scrape Socket Mode and the console, which serve no HTTP otherwise, and
to keep metrics off a public port. ``SPENDWATCH_METRICS_TOKEN`` makes a scrape need a bearer
token.

Start-up checks come first: the configured sources exist, the playbook loads, and Slack takes
the tokens (``bot.chat.slack.startup``); each failure is one line for the user.

:class:`Runtime` holds the running parts so tests (and ``bench/slack_ack.py``) can start and
stop the real thing in-process. Secrets are read here, used, and never logged.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from bot.chat.port import ChatSender
from bot.chat.teams.auth import TeamsCredentials, TeamsError, teams_credentials
from bot.outbox.deliverer import Deliverer
from bot.outbox.worker import DeliveryWorker
from bot.playbook import Playbook
from bot.playbook.library import PlaybookLibrary
from bot.scheduler import build_scheduler
from bot.settings import ConfigError, check_sources
from bot.wiring import Services

if TYPE_CHECKING:
    from starlette.routing import Route

__all__ = ["Mode", "Runtime", "choose_mode"]

log = logging.getLogger(__name__)

SWITCH_INTERVAL = 0.001  # seconds a thread may hold the GIL while others wait, in HTTP mode


@dataclass(frozen=True)
class Mode:
    name: str  # Slack's: socket | http | console | none (Teams alone)
    bot_token: str | None = None
    app_token: str | None = None
    signing_secret: str | None = None
    api_url: str | None = None
    teams: TeamsCredentials | None = None

    def __repr__(self) -> str:  # never print secrets, even by accident
        return f"Mode({self.name!r}, api_url={self.api_url!r}, teams={self.teams is not None})"

    @property
    def serves_http(self) -> bool:
        return self.name == "http" or self.teams is not None


def choose_mode(env: Mapping[str, str]) -> Mode:
    try:
        teams = teams_credentials(env)
    except TeamsError as exc:
        raise ConfigError(str(exc)) from None
    slack = _slack_mode(env)
    if teams is None:
        return slack
    if slack.name == "console":
        return Mode("none", teams=teams)
    return replace(slack, teams=teams)


def _slack_mode(env: Mapping[str, str]) -> Mode:
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


def freeze_startup_heap() -> None:
    """Take what start-up built out of the garbage collector's later full passes.

    A running bot holds some 300,000 objects from its imports and start-up (modules, the ORM's
    mappers, pandas, the chat SDKs) that live as long as the process. CPython's full
    collection walks every one of them each time, 50 to 180 ms with the interpreter lock held,
    and it lands inside whatever click, poll or send is running when it triggers
    (``bench/teams_actions.py``: a burst of 50 Teams clicks that met one answered its last
    click that much later). ``gc.freeze()`` moves them to the permanent generation, which no
    collection walks; what is allocated afterwards is collected as before. Called once, by
    ``spendwatch run``, through :attr:`Runtime.freeze_heap`, once the chat side and the web
    server are up and before the scheduler's first poll makes anything.
    """
    gc.collect()  # what start-up already dropped is freed, not frozen
    gc.freeze()


@dataclass
class Runtime:
    services: Services
    mode: Mode
    port: int = 3000
    host: str = "0.0.0.0"
    schedule: bool = True
    stdin: Any = None  # console mode reads it (default: sys.stdin)
    metrics_port: int | None = None  # /metrics on a server of its own (0: a free port)
    metrics_token: str | None = field(default=None, repr=False)
    freeze_heap: bool = False  # freeze_startup_heap() before the scheduler starts: once a process
    playbooks: PlaybookLibrary = field(init=False)
    playbook: Playbook = field(init=False)  # the default
    parts: dict[str, Any] = field(default_factory=dict)

    def start(self) -> Runtime:
        check_sources(self.services.settings)  # a mistyped path stops here, not every poll
        self.playbooks = self.services.playbooks()  # a broken YAML stops here
        self.playbook = self.playbooks.default
        settings = self.services.settings
        try:
            senders: list[tuple[ChatSender, float]] = []
            if self.mode.name != "none":
                pace = (settings.schedule.channel_pace_seconds
                        if self.mode.name != "console" else 0.0)
                senders.append((self._sender(), pace))
            if self.mode.teams is not None:
                senders.append((self._start_teams(self.mode.teams), settings.teams.pace_seconds))
            deliverers = {sender.platform: self.services.deliverer(
                sender, playbook=self.playbooks, min_interval=pace) for sender, pace in senders}
            worker = DeliveryWorker(list(deliverers.values()),
                                    interval=settings.schedule.deliver_seconds).start()
            self.parts.update(deliverer=next(iter(deliverers.values())), deliverers=deliverers,
                              worker=worker)
            if "teams" in self.parts:
                self.parts["teams_context"].wake = worker.wake
            if self.mode.name in ("http", "socket"):
                self._start_slack(worker)
            if self.mode.serves_http or self._change_secret():
                self._start_web()
            if self.metrics_port is not None:
                self._start_metrics_web(self.metrics_port)
        except BaseException:
            self.stop()  # no threads left behind by a start that failed
            raise
        if self.mode.name == "console":
            self._start_console_input(self.parts["deliverer"])
        if self.freeze_heap:
            freeze_startup_heap()
        if self.schedule:
            scheduler = build_scheduler(self.services, platforms=tuple(deliverers),
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
        if "metrics_http" in self.parts:
            self.parts["metrics_http"].stop()
        if "socket" in self.parts:
            self.parts["socket"].close()
        if "listeners" in self.parts:
            self.parts["listeners"].shutdown(wait=False, cancel_futures=True)
        if "worker" in self.parts:
            self.parts["worker"].stop()
        if "teams" in self.parts:
            self.parts["teams"].stop()

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

        ctx = SlackContext(services=self.services, playbook=self.playbooks, wake=worker.wake)
        secret = self.mode.signing_secret if self.mode.name == "http" else None
        app = build_app(ctx, client=self.parts["client"], signing_secret=secret)
        self.parts["app"] = app
        self.parts["listeners"] = app.listener_runner.listener_executor
        if self.mode.name == "http":
            from bot.chat.slack.http import events_route

            self.parts.setdefault("routes", []).append(events_route(
                app, signing_secret=self.mode.signing_secret or "", threads=LISTENER_THREADS))
        else:
            from bot.chat.slack.startup import connect_socket_mode

            self.parts["socket"] = connect_socket_mode(app, app_token=self.mode.app_token or "")
            log.info("Socket Mode: connected")

    def _start_teams(self, credentials: TeamsCredentials) -> ChatSender:
        from bot.chat.enums import Platform
        from bot.chat.teams.app import TeamsBot
        from bot.chat.teams.handlers import TeamsContext, register
        from bot.chat.teams.sender import TeamsSender
        from bot.outbox.conversations import ConversationBook

        settings = self.services.settings
        book = ConversationBook(self.services.engine, platform=Platform.TEAMS)
        ctx = TeamsContext(services=self.services, playbook=self.playbooks, book=book)
        bot = TeamsBot(credentials, openid_metadata_url=settings.teams.openid_metadata_url,
                       token_url=settings.teams.token_url,
                       register=lambda app, host: register(app, ctx, host))
        self.parts.update(teams=bot, teams_context=ctx)
        bot.start()
        desk = self.services.desk(self.playbooks)
        sender = TeamsSender(bot, book=book, step_for=desk.current_step,
                             chart_for=self.services.chart_png)
        ctx.charts = sender
        self.parts.setdefault("routes", []).append(bot.route())
        return sender

    def _start_web(self) -> None:
        from bot.web import WebServer, build_web_app

        # A click's answer passes between the event loop and a dispatch thread while the
        # outbox thread renders and sends: with Python's default 5 ms GIL switch interval
        # each hand-over can wait that long, which is what the slowest clicks of a burst
        # waited for (bench/slack_ack.py: p99 about 225 ms at 5 ms, about 160 ms at 1 ms).
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        routes = list(self.parts.get("routes", []))
        if self.services.settings.changes.webhook:
            from bot.changes.webhook import change_route

            routes.append(change_route(engine=self.services.engine,
                                       secret=self._change_secret(),
                                       allocation=self.services.settings.allocation))
        if self.metrics_port is None:
            routes.append(self._metrics_route())
        server = WebServer(build_web_app(routes), host=self.host, port=self.port)
        self.parts["http"] = server.start()
        served = [p for p, on in (("Slack on /slack/events", self.mode.name == "http"),
                                  ("Teams on /api/messages", self.mode.teams is not None),
                                  ("changes on /events/change",
                                   self.services.settings.changes.webhook),
                                  ("metrics on /metrics", self.metrics_port is None)) if on]
        log.info("HTTP mode on :%d: %s", server.port, ", ".join(served))

    def _metrics_route(self) -> Route:
        from bot.metrics import scrape_registry
        from bot.web import metrics_route

        settings = self.services.settings
        registry = scrape_registry(self.services.engine,
                                   sources=[s.label for s in settings.sources],
                                   platforms=list(self.parts.get("deliverers", ())))
        return metrics_route(registry, token=self.metrics_token)

    def _start_metrics_web(self, port: int) -> None:
        from bot.web import WebServer, build_web_app

        server = WebServer(build_web_app([self._metrics_route()]), host=self.host, port=port)
        try:
            self.parts["metrics_http"] = server.start()
        except OSError as exc:
            raise ConfigError(f"--metrics-port {port}: cannot listen on {self.host}:{port} "
                              f"({exc.strerror or exc}); choose a free port") from None
        log.info("metrics on :%d/metrics", server.port)

    def _change_secret(self) -> str | None:
        """The change webhook's secret when it is on (with it, the web app serves even in
        Socket Mode or the console)."""
        if not self.services.settings.changes.webhook:
            return None
        from bot.changes.config import change_secret

        return change_secret()

    @property
    def http_port(self) -> int:
        return int(self.parts["http"].port)

    @property
    def metrics_url(self) -> str | None:
        """Where this process serves ``/metrics`` (None: nowhere)."""
        server = self.parts.get("metrics_http", self.parts.get("http"))
        if server is None:
            return None
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{server.port}/metrics"
