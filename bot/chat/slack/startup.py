"""Start-up checks of the Slack side: the tokens work and Slack answers, or one line says why.

Without them a wrong token or no route to Slack shows only later, message by message, in the
log. :func:`check_bot_token` asks ``auth.test`` with the bot token; :func:`connect_socket_mode`
asks ``apps.connections.open`` with the app-level token and opens the WebSocket at the URL it
answers. A failure is :class:`bot.chat.port.ChatUnavailable`, naming the token or the URL and
what to do. Tokens never appear in a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from bot.chat.port import ChatUnavailable

__all__ = ["check_bot_token", "connect_socket_mode"]

SOCKET_LOGGER = "bot.chat.slack.socket_mode"  # the WebSocket's own log, once it is running

# what Slack's refusals of a token mean, in the words of the message
REFUSALS = {
    "invalid_auth": "not a valid token",
    "not_authed": "no token was sent",
    "account_inactive": "its user or workspace was deactivated",
    "token_revoked": "it was revoked",
    "token_expired": "it expired",
    "not_allowed_token_type": "the wrong kind of token",
    "missing_scope": "it lacks a scope it needs",
    "no_permission": "it lacks a permission it needs",
    "ekm_access_denied": "an administrator suspended access",
}
BOT_FIX = ("set SLACK_BOT_TOKEN to the app's Bot User OAuth Token (xoxb-..., on its OAuth & "
           "Permissions page; reinstall the app if it was revoked), then start again")
APP_FIX = ("set SLACK_APP_TOKEN to an app-level token with the connections:write scope "
           "(xapp-..., the app's Basic Information > App-Level Tokens), then start again")


def check_bot_token(client: WebClient) -> None:
    """``auth.test`` with the bot token; ChatUnavailable if Slack refuses it or cannot be
    reached."""
    _ask(client, "auth.test", lambda client: client.auth_test(), token="SLACK_BOT_TOKEN",
         fix=BOT_FIX)


def connect_socket_mode(app: App, *, app_token: str) -> SocketModeHandler:
    """A connected Socket Mode handler (``close()`` it to stop), else ChatUnavailable."""
    socket_log = logging.getLogger(SOCKET_LOGGER)
    hush = _Hush()  # while connecting, a failure is the one line ChatUnavailable says
    socket_log.addFilter(hush)
    handler = SocketModeHandler(app, app_token, logger=socket_log)
    try:
        answer = _ask(app.client, "apps.connections.open",
                      lambda client: client.apps_connections_open(app_token=app_token),
                      token="SLACK_APP_TOKEN", fix=APP_FIX)
        socket = handler.client
        socket.wss_uri = str(answer["url"])  # connect() opens it, not another one
        handler.connect()
        if not socket.is_connected():
            raise ChatUnavailable("Socket Mode could not connect to Slack (the WebSocket did "
                                  "not open); check the network and SLACK_APP_TOKEN, then start "
                                  "again")
    except BaseException:
        handler.close()  # its threads started with it
        raise
    finally:
        socket_log.removeFilter(hush)
    return handler


class _Hush(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return False


def _ask(client: WebClient, method: str, call: Callable[[WebClient], Any], *, token: str,
         fix: str) -> Any:
    quiet = _quiet_copy(client)
    try:
        return call(quiet)
    except SlackApiError as exc:
        raise _refused(quiet.base_url, method, exc, token=token, fix=fix) from None
    except (OSError, SlackClientError) as exc:  # refused, unreachable, timed out, bad URL
        reason = getattr(exc, "reason", None) or exc
        raise ChatUnavailable(f"Slack did not answer at {quiet.base_url} ({reason}); check the "
                              f"network, or SLACK_API_URL if it is set, then start again"
                              ) from None


def _refused(url: str, method: str, exc: SlackApiError, *, token: str,
             fix: str) -> ChatUnavailable:
    response = exc.response
    error = str(response.get("error", "") if hasattr(response, "get") else "") or "refused"
    status = int(getattr(response, "status_code", 200) or 200)
    if error in REFUSALS:
        return ChatUnavailable(f"Slack refused {token} ({error}: {REFUSALS[error]}); {fix}")
    if status >= 400 and status != 429:
        return ChatUnavailable(f"Slack at {url} answered {method} with HTTP {status} "
                               f"({error[:80]}); check SLACK_API_URL if it is set, or try again "
                               f"later")
    return ChatUnavailable(f"Slack refused {method} at start ({error[:80]}); try again later")


def _quiet_copy(client: WebClient) -> WebClient:
    """The same client for one call, without slack_sdk's own error log line: the failure
    becomes the one line ChatUnavailable says."""
    silent = logging.Logger("spendwatch.slack.startup", level=logging.CRITICAL)
    return WebClient(token=client.token, base_url=client.base_url, timeout=client.timeout,
                     retry_handlers=[], logger=silent)
