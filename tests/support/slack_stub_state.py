"""What the local Slack stub's workspace holds: messages, views, uploads, users, channels.

The stub answers Web API calls by reading and changing a :class:`Workspace`, so a test can
assert on what users would see (the current text of an alert after ``chat.update``, the replies
in its thread, the bytes of an uploaded report) rather than only on the calls that were made.
Ids and timestamps are deterministic and Slack-shaped so snapshots stay stable.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]

TEAM_ID = "T0SPENDWT"
TEAM_NAME = "Spendwatch Test"
TEAM_DOMAIN = "spendwatch-test"
WORKSPACE_URL = f"https://{TEAM_DOMAIN}.slack.com/"
APP_ID = "A0SPENDWT"
BOT_ID = "B0SPENDWT"
BOT_USER_ID = "U0SPENDBOT"
BOT_NAME = "spendwatch"
DEFAULT_TS_BASE = 1_700_000_000
_TS_STEP_MICROS = 100


class ApiError(Exception):
    """A refusal Slack sends as HTTP 200 ``{"ok": false, "error": ...}``.

    ``messages`` become ``response_metadata.messages``, where Slack explains ``invalid_blocks``
    and ``invalid_arguments`` in ``[ERROR] ... [json-pointer:...]`` lines.
    """

    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []

    def body(self) -> JsonDict:
        """The JSON body Slack answers with."""
        body: JsonDict = {"ok": False, "error": self.error}
        if self.messages:
            body["response_metadata"] = {"messages": self.messages}
        return body


@dataclass(frozen=True)
class Message:
    """One message as users currently see it in a channel or thread.

    ``visible_to`` is set for ephemeral messages (only that user sees them); ``files`` holds the
    ids of files shared with the message; ``edits`` counts ``chat.update`` calls applied to it.
    """

    channel: str
    ts: str
    text: str = ""
    blocks: list[JsonDict] | None = None
    attachments: list[JsonDict] | None = None
    thread_ts: str | None = None
    metadata: JsonDict | None = None
    files: tuple[str, ...] = ()
    edits: int = 0
    visible_to: str | None = None

    def as_api(self) -> JsonDict:
        """The message object Slack echoes in ``chat.postMessage`` / ``chat.update`` answers."""
        message: JsonDict = {
            "type": "message", "text": self.text, "user": BOT_USER_ID,
            "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID, "ts": self.ts,
            "bot_profile": {"id": BOT_ID, "app_id": APP_ID, "name": BOT_NAME, "team_id": TEAM_ID,
                            "deleted": False},
        }
        optional = {"blocks": self.blocks, "attachments": self.attachments,
                    "thread_ts": self.thread_ts, "metadata": self.metadata}
        message.update({key: value for key, value in optional.items() if value is not None})
        if self.thread_ts is not None:
            message["parent_user_id"] = BOT_USER_ID
        if self.edits:
            message["edited"] = {"user": BOT_USER_ID, "ts": self.ts}
        return {key: value for key, value in message.items() if value is not None}


@dataclass
class Upload:
    """A file going through the v2 upload flow (URL issued, bytes received, upload completed)."""

    file_id: str
    filename: str
    length: int
    content: bytes | None = None
    title: str | None = None
    channel_id: str | None = None
    thread_ts: str | None = None
    initial_comment: str | None = None
    completed: bool = False


@dataclass
class ResponseUrl:
    """A ``response_url`` handed to the app, optionally bound to the message it came from and
    to the user who acted (who sees its ephemeral answers)."""

    url_id: str
    channel: str | None = None
    message_ts: str | None = None
    user_id: str | None = None
    payloads: list[JsonDict] = field(default_factory=list)


class Workspace:
    """The mutable state behind the stub; every access happens under the stub's lock.

    Configuration (``users``, ``channels``, ``known_channels``) survives :meth:`clear`; what the
    app did (messages, views, uploads, reactions, response_url posts) does not.
    """

    def __init__(self, *, root_url: str, ts_base: int = DEFAULT_TS_BASE,
                 wall_clock: bool = False) -> None:
        self.root_url = root_url.rstrip("/")
        self.wall_clock = wall_clock
        self._last_micros = 0
        self.users: dict[str, JsonDict] = {}
        self.channels: dict[str, JsonDict] = {}
        self.known_channels: set[str] | None = None
        self.reference_time = ts_base
        self._ts_base = ts_base
        self._ts_counter = itertools.count(1)
        self._id_counter = itertools.count(1)
        self.clear()

    def clear(self) -> None:
        """Forget everything the app did; keep configuration and keep ids/ts increasing."""
        self.messages: dict[tuple[str, str], Message] = {}
        self.ephemerals: list[Message] = []
        self.views: dict[str, JsonDict] = {}
        self.home_views: dict[str, JsonDict] = {}
        self.uploads: dict[str, Upload] = {}
        self.reactions: dict[tuple[str, str], list[str]] = {}
        self.response_urls: dict[str, ResponseUrl] = {}

    def next_ts(self) -> str:
        """A unique, increasing, Slack-shaped message timestamp such as ``1700000000.000100``;
        with ``wall_clock``, the time now (as Slack's are), still unique and increasing."""
        if self.wall_clock:
            now = int(time.time() * 1_000_000)
            self._last_micros = max(now, self._last_micros + _TS_STEP_MICROS)
            seconds, fraction = divmod(self._last_micros, 1_000_000)
            return f"{seconds}.{fraction:06d}"
        micros = next(self._ts_counter) * _TS_STEP_MICROS
        seconds, fraction = divmod(micros, 1_000_000)
        return f"{self._ts_base + seconds}.{fraction:06d}"

    def new_id(self, prefix: str) -> str:
        """A unique Slack-shaped id: ``prefix`` (F for files, V for views...) and ten digits."""
        return f"{prefix}{next(self._id_counter):010d}"

    def resolve_channel(self, channel: Any) -> str:
        """The conversation id a message to ``channel`` lands in, or ``channel_not_found``.

        A user id (``U…``/``W…``) means the app's DM with that user, as in Slack, whose answer
        then names the ``D…`` id: code that reuses the id it sent instead of the one Slack
        answered breaks here the way it would in production.
        """
        if not isinstance(channel, str) or not channel:
            raise ApiError("channel_not_found")
        if channel[0] in "UW":
            return "D" + channel[1:]
        if channel.startswith("D"):
            return channel
        if self.known_channels is not None and channel not in self.known_channels:
            raise ApiError("channel_not_found")
        return channel

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The replies in the thread under message ``ts``, oldest first (parent excluded)."""
        replies = [message for message in self.messages.values()
                   if message.channel == channel and message.thread_ts == ts and message.ts != ts]
        return sorted(replies, key=lambda message: float(message.ts))

    def user(self, user_id: str) -> JsonDict:
        """The ``users.info`` user object: defaults overlaid with ``users[user_id]``."""
        override = dict(self.users.get(user_id, {}))
        name = override.get("name", user_id.lower())
        profile = {"display_name": name, "real_name": override.get("real_name", name),
                   "email": f"{name}@example.com", "team": TEAM_ID}
        profile.update(override.pop("profile", {}))
        user: JsonDict = {
            "id": user_id, "team_id": TEAM_ID, "name": name, "deleted": False,
            "real_name": profile["real_name"], "tz": "Europe/London",
            "tz_label": "Greenwich Mean Time", "tz_offset": 0, "is_admin": False,
            "is_owner": False, "is_bot": False, "is_app_user": False, "updated": self._ts_base,
        }
        user.update(override)
        user["profile"] = profile
        return user

    def channel(self, channel_id: str) -> JsonDict:
        """The ``conversations.info`` channel object: defaults overlaid with ``channels[id]``."""
        is_im = channel_id.startswith("D")
        info: JsonDict = {
            "id": channel_id, "name": channel_id.lower(), "is_channel": not is_im,
            "is_group": False, "is_im": is_im, "is_mpim": False, "is_private": is_im,
            "is_archived": False, "is_general": False, "is_member": True,
            "created": self._ts_base, "creator": BOT_USER_ID, "context_team_id": TEAM_ID,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }
        if is_im:
            info["user"] = "U" + channel_id[1:]
        info.update(self.channels.get(channel_id, {}))
        return info


Handler = Callable[[Workspace, JsonDict], JsonDict]
"""A Web API method: the workspace and the call's parameters in, the JSON answer out."""
