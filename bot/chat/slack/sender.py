"""The outbox's Slack side: send, update and look up messages through the Web API.

The WebClient is built with no automatic retries: slack_sdk's default handler re-sends a
request whose connection dropped, which can post the same message twice. The outbox retries
instead, and looks a message up by its key (carried as Slack message metadata) before
sending it again. Failures become :class:`DeliveryError`: 429 with its ``Retry-After``,
5xx and connection errors as *uncertain*, unknown channels and malformed messages as
*permanent*.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.anomaly.views import AlertView
from bot.chat.enums import Platform
from bot.chat.port import DeliveryError, Notice
from bot.chat.slack.blocks import alert_message, escape, mention, notice_blocks

__all__ = ["SlackSender", "make_client"]

log = logging.getLogger(__name__)

METADATA_TYPE = "spendwatch_outbox"
PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_blocks",
    "invalid_blocks_format", "msg_too_long", "no_text", "invalid_auth", "not_authed",
    "account_inactive", "token_revoked", "missing_scope", "message_not_found",
    "cant_update_message", "restricted_action", "invalid_arguments",
}


# what a person can do about the errors an install typically meets
HINTS = {
    "not_in_channel": " (invite the bot: /invite @spendwatch in that channel)",
    "channel_not_found": " (check the channel id in routing.owners / routing.default_channel; "
                         "for a private channel, invite the bot first)",
    "missing_scope": " (reinstall the app from manifest.yml so it has every scope it needs)",
    "invalid_auth": " (SLACK_BOT_TOKEN is wrong or was revoked)",
    "token_revoked": " (SLACK_BOT_TOKEN was revoked; reinstall the app)",
}


def make_client(token: str, *, base_url: str | None = None, timeout: int = 10) -> WebClient:
    """A WebClient with no automatic retries (see the module docstring)."""
    options: dict[str, Any] = {"token": token, "timeout": timeout, "retry_handlers": []}
    if base_url:
        options["base_url"] = base_url if base_url.endswith("/") else base_url + "/"
    return WebClient(**options)


class SlackSender:
    platform = Platform.SLACK

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post_alert(self, channel: str, view: AlertView, *, key: str) -> str:
        text, blocks = alert_message(view)
        answer = self._call("chat_postMessage", channel=channel, text=text,
                            blocks=[b.to_dict() for b in blocks], metadata=_metadata(key),
                            unfurl_links=False, unfurl_media=False)
        return str(answer["ts"])

    def update_alert(self, channel: str, ref: str, view: AlertView) -> None:
        text, blocks = alert_message(view)
        self._call("chat_update", channel=channel, ts=ref, text=text,
                   blocks=[b.to_dict() for b in blocks])

    def reply(self, channel: str, ref: str, notice: Notice, *, key: str) -> str:
        text = _notice_text(notice)
        answer = self._call("chat_postMessage", channel=channel, thread_ts=ref, text=text,
                            blocks=[b.to_dict() for b in notice_blocks(text)],
                            metadata=_metadata(key))
        return str(answer["ts"])

    def post_notice(self, channel: str, notice: Notice, *, key: str,
                    link: tuple[str, str] | None = None) -> str:
        text = _notice_text(notice)
        if link is not None:
            permalink = self._call("chat_getPermalink", channel=link[0], message_ts=link[1])
            text += f" <{permalink['permalink']}|Open the alert>"
        answer = self._call("chat_postMessage", channel=channel, text=text,
                            blocks=[b.to_dict() for b in notice_blocks(text)],
                            metadata=_metadata(key))
        return str(answer["ts"])

    def upload_chart(self, channel: str, ref: str, png: bytes, *, title: str,
                     key: str) -> None:
        # files carry no metadata: the key goes into the file name, to be found again
        self._call("files_upload_v2", channel=channel, thread_ts=ref, content=png,
                   filename=_chart_name(key), title=title[:250])

    def find_sent(self, channel: str, key: str, *, since: datetime,
                  thread: str | None = None) -> str | None:
        oldest = f"{since.timestamp() - 60:.6f}"
        if thread is None:
            answer = self._call("conversations_history", channel=channel, oldest=oldest,
                                limit=200, include_all_metadata=True)
        else:
            answer = self._call("conversations_replies", channel=channel, ts=thread,
                                oldest=oldest, limit=200, include_all_metadata=True)
        for message in answer.get("messages") or []:
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            names = {f.get("name") for f in message.get("files") or []}
            if payload.get("key") == key or _chart_name(key) in names:
                return str(message["ts"])
        return None

    def _call(self, method: str, **arguments: Any) -> Any:
        try:
            return getattr(self.client, method)(**arguments)
        except SlackApiError as exc:
            raise _classify(method, exc) from None
        except (OSError, TimeoutError) as exc:  # dropped connection, refused, timed out
            raise DeliveryError(f"{method}: no answer from Slack ({type(exc).__name__})",
                                uncertain=True) from None


def _classify(method: str, exc: SlackApiError) -> DeliveryError:
    response = exc.response
    status = getattr(response, "status_code", 200)
    error = str(response.get("error", "")) if hasattr(response, "get") else ""
    if status == 429:
        headers = getattr(response, "headers", {}) or {}
        retry = headers.get("Retry-After") or headers.get("retry-after") or "1"
        return DeliveryError(f"{method}: rate limited by Slack", retry_after=float(retry))
    if status >= 500:
        return DeliveryError(f"{method}: Slack answered HTTP {status}", uncertain=True)
    hint = HINTS.get(error, "")
    return DeliveryError(f"{method}: {error or 'refused'}{hint}", permanent=error in PERMANENT)


def _chart_name(key: str) -> str:
    return f"spend-{key}.png"


def _metadata(key: str) -> dict[str, Any]:
    return {"event_type": METADATA_TYPE, "event_payload": {"key": key}}


def _notice_text(notice: Notice) -> str:
    who = f"{mention(notice.actor)} " if notice.actor else ""
    return who + escape(notice.text)
