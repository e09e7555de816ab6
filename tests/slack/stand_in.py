"""A local stand-in for Slack's Web API (and for ``response_url``), for tests.

A real aiohttp server on a free port of 127.0.0.1, driven by a private asyncio event loop in a
daemon thread, so it serves the code under test whether that runs in the test's event loop,
another thread or a subprocess (pass ``api_url`` on, e.g. as ``SLACK_API_URL``)::

    with SlackStandIn() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        await client.chat_postMessage(channel="C123", text="hi", blocks=[...])
        assert slack.calls_to("chat.postMessage")[0].args["blocks"][0]["type"] == "section"
        assert [m["text"] for m in slack.messages().values()] == ["hi"]

It answers like Slack: HTTP 200 with JSON ``{"ok": true, ...}`` or ``{"ok": false, "error": ...}``
(plus ``response_metadata.messages`` for argument errors), 429 with ``Retry-After`` when rate
limited. Requests may be form-encoded, JSON, or query parameters (any HTTP verb), the token comes
from ``Authorization: Bearer xox…`` (or a ``token`` field); a missing token is ``not_authed``, one
not starting with ``xox`` ``invalid_auth``.

What the SDK (slack_sdk 3.48 ``AsyncWebClient``; the sync ``WebClient`` alike) actually sends:

* ``chat.postMessage`` / ``chat.update`` / ``chat.postEphemeral`` (and ``chat.scheduleMessage``):
  POST ``application/json;charset=utf-8``; ``blocks`` a JSON array (a string if the caller passed
  a string — decoded here), booleans as JSON booleans.
* ``auth.test``, ``chat.delete``: POST with the arguments in the *query string* and an empty
  body (Content-Type still ``application/x-www-form-urlencoded``).
* ``conversations.info``, ``users.info``, ``chat.getPermalink``: GET with query parameters
  (booleans as ``1``/``0``).
* Bolt's ``respond()`` / ``AsyncWebhookClient``: POST JSON to the ``response_url``.

Methods: ``auth.test``, ``chat.postMessage``, ``chat.update``, ``chat.postEphemeral``,
``chat.delete``, ``chat.getPermalink``, ``conversations.info``, ``conversations.members``
(a channel's people as ``add_channel(members=…)`` set them; ``team=`` another workspace's id
makes a channel ``channel_not_found``), ``conversations.history``
(top-level messages, newest first, ``oldest``/``latest``/``limit``/``cursor``; it needs
``channels:history``, or ``groups:history`` for a private channel, in ``scopes``, else
``missing_scope``), ``users.info``,
``views.publish`` (the Home tab, kept per person in ``homes()``), ``views.open`` (modals, in
``modals()``; views are validated as Slack does: ≤100 blocks, a modal's title ≤24 characters,
input blocks with a label and an element), and
``apps.connections.open`` (Socket Mode, below); anything else is
``unknown_method``. Message arguments are validated as Slack does (``channel_not_found``,
``no_text``, ``invalid_blocks`` against the Block Kit limits, ``invalid_blocks_format``), and every
call is recorded, failed or not, in ``calls`` (``Call.status`` / ``Call.response`` tell how it was
answered).

Faults, consumed in order by the next calls of one method (``"response_url"`` too):
``fail_next`` (200 + ``ok: false``; 404 for a response_url), ``rate_limit_next`` (429 +
``Retry-After``), ``delay_next`` (answer late, other calls are not held up),
``answer_late_next`` (do what was asked at once, e.g. post the message, but answer only after
``seconds``: a client killed meanwhile never learns the result).

Channels: unknown ids are treated as channels the bot is in (``G…``/``D…`` are private).
``add_channel(id, is_member=False)`` makes posting fail like Slack does: ``channel_not_found`` for
a private channel, ``not_in_channel`` for a public one unless ``"chat:write.public"`` is in
``scopes`` (it is by default: the scopes manifest.yml asks for).

``response_url(name)`` gives a URL here that accepts up to 5 POSTs (Slack allows 5 uses; here the
6th and later get 404 ``used_url``); success is 200 with the text/plain body ``ok``, errors carry
the error name as their body (400 for a bad payload, 404 for ``fail_next``). When the URL
was made with ``channel=``/``message_ts=``, ``replace_original``/``delete_original`` edit that
message in ``messages()`` and ``response_type: in_channel`` adds one; other replies are ephemeral
and listed in ``ephemerals()``.

``wait_for`` blocks the calling thread; from an async test whose event loop runs the code under
test, use ``await slack.wait_for_async(...)`` instead.

Socket Mode (``tests/slack/socket_mode.py`` tells the protocol): ``apps.connections.open`` wants an
app-level token (``xapp-…``) and answers with a ``ws://127.0.0.1:PORT/socket-mode/link/?ticket=…``
URL; the app's WebSocket there gets ``hello``, then whatever the test sends::

    with SlackStandIn() as slack:        # run the app with SLACK_APP_TOKEN=xapp-…, base_url api_url
        assert slack.wait_for_socket()
        eid = slack.send_slash_command("check site.test", channel_id="C123")
        assert slack.wait_for_ack(eid, 3) == {"envelope_id": eid}   # or with a "payload"
        slack.send_block_action("gateway_rerun", value, message_ts=ts, message_blocks=blocks)
        slack.send_disconnect("refresh_requested")                 # the app reconnects
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl

from aiohttp import web

from tests.slack.socket_mode import Envelope, SocketConnection, SocketModeMixin

__all__ = [
    "BOT_ID",
    "BOT_USER_ID",
    "TEAM_ID",
    "Call",
    "Envelope",
    "SlackStandIn",
    "SocketConnection",
    "validate_blocks",
]

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T1"
TEAM_DOMAIN = "test"
TEAM_URL = "https://test.slack.com/"

DEFAULT_SCOPES = frozenset(
    {
        "commands",
        "chat:write",
        "chat:write.public",
        "channels:history",
        "groups:history",
        "channels:read",
        "groups:read",
        "files:write",
    }
)
RESPONSE_URL_USES = 5
TEXT_LIMIT = 40_000  # Slack truncates a message's text past this

_TS_BASE_US = 1_700_000_000_000_000
_JSON_FIELDS = ("blocks", "attachments", "metadata", "view")
_OTHER_BLOCK_TYPES = frozenset(
    {"divider", "image", "input", "file", "rich_text", "video", "markdown", "call", "table"}
)


@dataclass
class Call:
    """One request the stand-in received, in arrival order."""

    method: str  # "chat.postMessage", ..., or "response_url"
    args: dict  # query + body; JSON fields (blocks, attachments, metadata) decoded
    token: str | None  # from "Authorization: Bearer …" or a token field
    at: float  # time.monotonic() on arrival
    status: int = 200  # the HTTP status it was answered with (set once answered)
    response: dict = field(default_factory=dict)  # the JSON it was answered with
    path: str = ""  # the request path, e.g. "/api/chat.postMessage" or "/commands/T1/cmd"
    http_method: str = ""  # "POST" / "GET"
    content_type: str = ""  # the Content-Type header without parameters, "" if none was sent
    body_size: int = 0  # bytes of request body
    token_in_header: bool = False  # the token came in "Authorization: Bearer …"


class _SlackError(Exception):
    def __init__(self, error: str, messages: list[str] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.messages = messages or []


# -- Block Kit validation -------------------------------------------------------------------------


def _err(message: str, pointer: str) -> str:
    return f"[ERROR] {message} [json-pointer:{pointer}]"


def _check_text(obj: Any, ptr: str, limit: int, out: list[str], *, plain_only: bool = False):
    if not isinstance(obj, dict):
        out.append(_err("must provide an object", ptr))
        return
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in allowed:
        out.append(_err(f"must be a valid enum value ({', '.join(allowed)})", f"{ptr}/type"))
    text = obj.get("text")
    if not isinstance(text, str):
        out.append(_err("must provide a string", f"{ptr}/text"))
    elif not text:
        out.append(_err("must be more than 0 characters", f"{ptr}/text"))
    elif len(text) > limit:
        out.append(_err(f"must be less than {limit + 1} characters", f"{ptr}/text"))


def _check_len(value: Any, ptr: str, limit: int, out: list[str]) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        out.append(_err("must provide a string", ptr))
    elif len(value) > limit:
        out.append(_err(f"must be less than {limit + 1} characters", ptr))


def _check_element(el: Any, ptr: str, out: list[str]) -> None:
    if not isinstance(el, dict):
        out.append(_err("must provide an object", ptr))
        return
    _check_len(el.get("action_id"), f"{ptr}/action_id", 255, out)
    if el.get("type") == "button":
        _check_text(el.get("text"), f"{ptr}/text", 75, out, plain_only=True)
        _check_len(el.get("value"), f"{ptr}/value", 2000, out)
        _check_len(el.get("url"), f"{ptr}/url", 3000, out)
        if el.get("style") not in (None, "primary", "danger"):
            out.append(_err("must be a valid enum value (primary, danger)", f"{ptr}/style"))


def _check_list(value: Any, ptr: str, most: int, out: list[str]) -> list:
    if not isinstance(value, list):
        out.append(_err("must provide an array", ptr))
        return []
    if not value:
        out.append(_err("must provide at least 1 item", ptr))
    elif len(value) > most:
        out.append(_err(f"no more than {most} items allowed", ptr))
    return value


def validate_blocks(blocks: Any, *, most: int = 50) -> list[str]:
    """Slack's complaints about a message's ``blocks`` (empty when Slack would accept them).

    Checks the limits Slack enforces: ≤50 blocks, section text ≤3000 and ≤10 fields of ≤2000,
    header plain_text ≤150, context 1–10 elements, actions 1–25 elements, button text ≤75
    (plain_text), value ≤2000, action_id/block_id ≤255, unique block_ids, non-empty texts.
    """
    if not isinstance(blocks, list):
        return [_err("must provide an array", "/blocks")]
    out: list[str] = []
    if len(blocks) > most:
        out.append(_err(f"no more than {most} items allowed", "/blocks"))
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        ptr = f"/blocks/{i}"
        if not isinstance(block, dict):
            out.append(_err("must provide an object", ptr))
            continue
        block_id = block.get("block_id")
        _check_len(block_id, f"{ptr}/block_id", 255, out)
        if isinstance(block_id, str):
            if block_id in block_ids:
                out.append(_err(f"duplicate block_id: {block_id}", f"{ptr}/block_id"))
            block_ids.add(block_id)
        kind = block.get("type")
        if kind == "section":
            text, fields = block.get("text"), block.get("fields")
            if text is None and fields is None:
                out.append(_err("must provide either text or fields", ptr))
            if text is not None:
                _check_text(text, f"{ptr}/text", 3000, out)
            if fields is not None:
                for j, f in enumerate(_check_list(fields, f"{ptr}/fields", 10, out)):
                    _check_text(f, f"{ptr}/fields/{j}", 2000, out)
            if block.get("accessory") is not None:
                _check_element(block["accessory"], f"{ptr}/accessory", out)
        elif kind == "header":
            _check_text(block.get("text"), f"{ptr}/text", 150, out, plain_only=True)
        elif kind == "context":
            for j, el in enumerate(_check_list(block.get("elements"), f"{ptr}/elements", 10, out)):
                if isinstance(el, dict) and el.get("type") in ("plain_text", "mrkdwn"):
                    _check_text(el, f"{ptr}/elements/{j}", 3000, out)
                elif not (isinstance(el, dict) and el.get("type") == "image"):
                    out.append(_err("must be a text object or an image", f"{ptr}/elements/{j}"))
        elif kind == "actions":
            action_ids: set[str] = set()
            for j, el in enumerate(_check_list(block.get("elements"), f"{ptr}/elements", 25, out)):
                eptr = f"{ptr}/elements/{j}"
                _check_element(el, eptr, out)
                action_id = el.get("action_id") if isinstance(el, dict) else None
                if isinstance(action_id, str):
                    if action_id in action_ids:
                        out.append(_err(f"duplicate action_id: {action_id}", f"{eptr}/action_id"))
                    action_ids.add(action_id)
        elif kind not in _OTHER_BLOCK_TYPES:
            out.append(_err(f"unsupported block type: {kind!r}", f"{ptr}/type"))
    return out


def validate_view(view: Any, kind: str) -> list[str]:
    """Slack's complaints about a Home tab (``kind="home"``) or a modal view.

    ≤100 blocks; a modal's title, submit and close plain_text ≤24 characters, callback_id
    ≤255, private_metadata ≤3000; an input block has a plain_text label ≤2000 and an element.
    """
    if not isinstance(view, dict):
        return [_err("must provide an object", "/view")]
    out: list[str] = []
    if view.get("type") != kind:
        out.append(_err(f"must be a valid enum value ({kind})", "/view/type"))
    out += validate_blocks(view.get("blocks"), most=100)
    if kind == "modal":
        _check_text(view.get("title"), "/view/title", 24, out, plain_only=True)
        for name in ("submit", "close"):
            if view.get(name) is not None:
                _check_text(view[name], f"/view/{name}", 24, out, plain_only=True)
        _check_len(view.get("callback_id"), "/view/callback_id", 255, out)
        _check_len(view.get("private_metadata"), "/view/private_metadata", 3000, out)
    for i, block in enumerate(view.get("blocks") or []):
        if isinstance(block, dict) and block.get("type") == "input":
            _check_text(block.get("label"), f"/blocks/{i}/label", 2000, out, plain_only=True)
            if not isinstance(block.get("element"), dict):
                out.append(_err("must provide an object", f"/blocks/{i}/element"))
    return out


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


# -- the server -----------------------------------------------------------------------------------


class SlackStandIn(SocketModeMixin):
    """Slack's Web API on 127.0.0.1, recording every call (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.url = ""  # "http://127.0.0.1:PORT"
        self.api_url = ""  # "http://127.0.0.1:PORT/api/", the AsyncWebClient base_url
        self.scopes: set[str] = set(DEFAULT_SCOPES)
        self._init_socket_mode()
        self._reset_state()

    def _reset_state(self) -> None:
        self._calls: list[Call] = []
        self._messages: dict[str, dict] = {}  # ts -> message, deleted ones removed
        self._ephemerals: list[dict] = []
        self._faults: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._delays: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._late: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self._channels: dict[str, dict] = {}
        self._members: dict[str, set[str]] = {}  # channel -> its people, where told
        self._foreign: set[str] = set()  # channels of another workspace
        self._users: dict[str, dict] = {}
        self._hooks: dict[str, dict] = {}  # response_url name -> {channel, message_ts, uses}
        self._homes: dict[str, dict] = {}  # user -> their published Home tab view
        self._modals: list[dict] = []  # views.open, in order: {trigger_id, view}
        self._uploads: dict[str, dict] = {}  # file id -> {filename, length, content, shared}
        self._ts_count = 0
        self._last_us = _TS_BASE_US
        self._reset_socket_state()

    # -- lifecycle

    def start(self) -> SlackStandIn:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                loop.run_until_complete(self._serve())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(self._runner.cleanup())
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                with contextlib.suppress(Exception):
                    loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.close()

        self._thread = threading.Thread(target=run, name="slack-stand-in", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Slack stand-in did not start within 10 s")
        if failure:
            self._thread = None
            raise failure[0]
        return self

    async def _serve(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_route("*", "/commands/{team}/{name}", self._handle_response_url)
        app.router.add_route("POST", "/upload/{file_id}", self._handle_upload)
        self._add_socket_routes(app)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.url}/api/"

    def close(self) -> None:
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(Exception):  # say goodbye to Socket Mode apps, as Slack would
            asyncio.run_coroutine_threadsafe(self._close_sockets(), loop).result(3)
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> SlackStandIn:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def reset(self) -> None:
        """Forget calls, messages, channels, users and pending faults (the server keeps running)."""
        with self._lock:
            self._reset_state()
            self.scopes = set(DEFAULT_SCOPES)

    # -- test-facing API

    def response_url(
        self, name: str = "cmd", *, channel: str | None = None, message_ts: str | None = None
    ) -> str:
        """A response_url on this server; its POSTs are recorded as ``Call(method="response_url")``.

        With ``channel`` (and ``message_ts`` for the message it belongs to, as for a button click)
        in_channel replies and replace_original/delete_original show up in ``messages()``.
        """
        with self._lock:
            hook = self._hooks.setdefault(name, {"channel": None, "message_ts": None, "uses": 0})
            if channel is not None:
                hook["channel"] = channel
            if message_ts is not None:
                hook["message_ts"] = message_ts
        return f"{self.url}/commands/{TEAM_ID}/{name}"

    @property
    def calls(self) -> list[Call]:
        """Every call so far, in arrival order (a snapshot)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if c.method == method]

    def messages(self) -> dict[str, dict]:
        """The current state of every (not deleted) message by ts, in posting order.

        Each: ts, channel, text, blocks, attachments, thread_ts, reply_broadcast, updated (how many
        times edited), truncated, user, bot_id, unfurl_links, unfurl_media, via ("api" or
        "response_url").
        """
        with self._lock:
            return copy.deepcopy(self._messages)

    def thread(self, ts: str) -> list[dict]:
        """The replies in the thread of ``ts`` (not the parent), oldest first."""
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages.values()
                if m["thread_ts"] == ts and m["ts"] != ts
            ]

    def homes(self) -> dict[str, dict]:
        """The Home tab published for each person (views.publish), newest view each."""
        with self._lock:
            return copy.deepcopy(self._homes)

    def modals(self) -> list[dict]:
        """Every modal opened (views.open): ``{"trigger_id", "view"}``, oldest first."""
        with self._lock:
            return copy.deepcopy(self._modals)

    def post_as_user(
        self, channel: str, text: str, user: str = "U999", thread_ts: str | None = None
    ) -> str:
        """A message a person wrote (e.g. a colleague's pasted log), as Slack stores it:
        `&`, `<` and `>` escaped; its ts, for a shortcut to be used on."""
        escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        with self._lock:
            message = self._new_message(
                channel, {"text": escaped}, {"thread_ts": thread_ts}, "user"
            )
            message.update(user=user, bot_id=None)
            return message["ts"]

    def ephemerals(self) -> list[dict]:
        """Ephemeral messages (chat.postEphemeral and ephemeral response_url replies), in order."""
        with self._lock:
            return copy.deepcopy(self._ephemerals)

    def add_channel(
        self,
        channel_id: str,
        name: str | None = None,
        *,
        is_private: bool | None = None,
        is_member: bool = True,
        members: set[str] | None = None,
        team: str = TEAM_ID,
    ) -> None:
        """A channel as Slack knows it; ``members`` are its people (conversations.members),
        ``team`` another workspace's id makes it unknown here (channel_not_found)."""
        with self._lock:
            self._channels[channel_id] = self._channel_info(channel_id) | {
                k: v
                for k, v in {"name": name, "is_private": is_private, "is_member": is_member}.items()
                if v is not None
            }
            self._members[channel_id] = set(members or ())
            if team != TEAM_ID:
                self._foreign.add(channel_id)

    def add_user(self, user_id: str, name: str, **fields: Any) -> None:
        with self._lock:
            self._users[user_id] = self._user_info(user_id) | {"name": name} | fields

    def fail_next(self, method: str, error: str = "not_in_channel", times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with ``{"ok": false, "error": error}``."""
        with self._lock:
            self._faults[method].extend([("fail", error)] * times)

    def rate_limit_next(self, method: str, retry_after: int = 1, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429, ``Retry-After: retry_after``."""
        with self._lock:
            self._faults[method].extend([("ratelimit", retry_after)] * times)

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` only after ``seconds``."""
        with self._lock:
            self._delays[method].extend([seconds] * times)

    def answer_late_next(self, method: str, seconds: float, times: int = 1) -> None:
        """Carry out the next ``times`` calls of ``method`` at once; answer after ``seconds``."""
        with self._lock:
            self._late[method].extend([seconds] * times)

    def wait_for(self, predicate: Callable[[SlackStandIn], Any], timeout: float = 10.0) -> bool:
        """Poll (blocking this thread) until ``predicate(self)`` is true; False on timeout.

        A predicate raising LookupError (``calls_to(m)[0]`` before the call came) counts as false.
        """
        deadline = time.monotonic() + timeout
        while True:
            if self._holds(predicate):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    async def wait_for_async(
        self, predicate: Callable[[SlackStandIn], Any], timeout: float = 10.0
    ) -> bool:
        """``wait_for`` that yields to the running event loop instead of blocking it."""
        deadline = time.monotonic() + timeout
        while True:
            if self._holds(predicate):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)

    def _holds(self, predicate: Callable[[SlackStandIn], Any]) -> bool:
        try:
            return bool(predicate(self))
        except LookupError:
            return False

    # -- HTTP handlers (run on the stand-in's own loop)

    async def _parse(self, request: web.Request) -> tuple[dict, str | None, str | None, int]:
        args: dict[str, Any] = dict(request.query)
        raw = await request.read()
        error = None
        if raw:
            text = raw.decode("utf-8", "replace")
            if request.content_type == "application/json":
                try:
                    body = json.loads(text)
                except ValueError:
                    body, error = {"_raw": text}, "invalid_json"
                if not isinstance(body, dict):
                    body, error = {"_raw": text}, "invalid_json"
            else:
                body = dict(parse_qsl(text, keep_blank_values=True))
            args.update(body)
        token = None
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip() or None
        body_token = args.pop("token", None)
        token = token or body_token
        for name in _JSON_FIELDS:
            if isinstance(args.get(name), str):
                with contextlib.suppress(ValueError):
                    args[name] = json.loads(args[name])
        return args, token, error, len(raw)

    def _record(
        self, method: str, args: dict, token: str | None, request: web.Request, size: int
    ) -> Call:
        call = Call(
            method=method,
            args=args,
            token=token,
            at=time.monotonic(),
            path=request.path,
            http_method=request.method,
            content_type=request.headers.get("Content-Type", "").split(";")[0].strip().lower(),
            body_size=size,
            token_in_header=bool(token)
            and request.headers.get("Authorization", "")[7:].strip() == token,
        )
        with self._lock:
            self._calls.append(call)
        return call

    def _take_faults(self, method: str) -> tuple[float, tuple | None]:
        with self._lock:
            delays, faults = self._delays[method], self._faults[method]
            return (delays.popleft() if delays else 0.0), (faults.popleft() if faults else None)

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args, token, parse_error, size = await self._parse(request)
        call = self._record(method, args, token, request, size)
        delay, fault = self._take_faults(method)
        if delay:
            await asyncio.sleep(delay)
        headers = {"X-OAuth-Scopes": ",".join(sorted(self.scopes))}
        status = 200
        if fault and fault[0] == "ratelimit":
            status = 429
            headers["Retry-After"] = str(fault[1])
            body: dict = {"ok": False, "error": "ratelimited"}
        elif fault:
            body = {"ok": False, "error": fault[1]}
        elif parse_error:
            body = {"ok": False, "error": parse_error}
        elif method == "apps.connections.open":  # the one method that wants an app token
            body = self._apps_connections_open(token)
        else:
            body = self._dispatch(method, args, token)
        call.status, call.response = status, body
        with self._lock:
            late = self._late[method].popleft() if self._late[method] else 0.0
        if late:
            await asyncio.sleep(late)
        return web.json_response(body, status=status, headers=headers)

    def _dispatch(self, method: str, args: dict, token: str | None) -> dict:
        handler = self._METHODS.get(method)
        if handler is None:
            return {"ok": False, "error": "unknown_method", "req_method": method}
        if not token:
            return {"ok": False, "error": "not_authed"}
        if not token.startswith("xox"):
            return {"ok": False, "error": "invalid_auth"}
        try:
            with self._lock:
                return {"ok": True} | handler(self, args)
        except _SlackError as exc:
            body: dict = {"ok": False, "error": exc.error}
            if exc.messages:
                body["response_metadata"] = {"messages": exc.messages}
            return body

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        args, token, parse_error, size = await self._parse(request)
        call = self._record("response_url", args, token, request, size)
        delay, fault = self._take_faults("response_url")
        if delay:
            await asyncio.sleep(delay)
        headers: dict[str, str] = {}
        with self._lock:
            hook = self._hooks.setdefault(name, {"channel": None, "message_ts": None, "uses": 0})
            hook["uses"] += 1
            if fault and fault[0] == "ratelimit":
                status, error = 429, "ratelimited"
                headers["Retry-After"] = str(fault[1])
            elif fault:
                status, error = 404, fault[1]
            elif request.method != "POST":
                status, error = 405, "method_not_allowed"
            elif hook["uses"] > RESPONSE_URL_USES:
                status, error = 404, "used_url"
            elif parse_error or "_raw" in args:
                status, error = 400, "invalid_payload"
            else:
                try:
                    self._respond(hook, args)
                    status, error = 200, None
                except _SlackError as exc:
                    status, error = 400, exc.error
        call.status = status
        call.response = {"ok": True} if error is None else {"ok": False, "error": error}
        return web.Response(text=error or "ok", status=status, headers=headers)

    async def _handle_upload(self, request: web.Request) -> web.Response:
        """The upload URL files.getUploadURLExternal gave: the file's bytes arrive here."""
        file_id = request.match_info["file_id"]
        raw = await request.read()
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is None or upload["content"] is not None:
                return web.Response(text="unknown upload", status=404)
            upload["content"] = raw
        return web.Response(text=f"OK - {len(raw)}")

    @property
    def files(self) -> list[dict]:
        """Files shared by files.completeUploadExternal: {id, title, filename, text, channel,
        thread_ts}, in order."""
        with self._lock:
            shared = [u for u in self._uploads.values() if u["shared"]]
            return [
                {
                    "id": u["id"],
                    "title": u["title"],
                    "filename": u["filename"],
                    "text": (u["content"] or b"").decode("utf-8", "replace"),
                    "channel": u["channel"],
                    "thread_ts": u["thread_ts"],
                }
                for u in shared
            ]

    # -- Slack's behaviour (called with the lock held)

    def _next_ts(self) -> str:
        # As Slack's: the time of posting (unique, increasing), so `oldest`/`latest` mean time.
        self._ts_count += 1
        us = max(int(time.time() * 1_000_000), self._last_us + 100)
        self._last_us = us
        return f"{us // 1_000_000}.{us % 1_000_000:06d}"

    def _channel_info(self, channel_id: str) -> dict:
        known = self._channels.get(channel_id)
        if known is not None:
            return dict(known)
        private = channel_id[:1] in ("G", "D")
        return {
            "id": channel_id,
            "name": channel_id.lower(),
            "is_channel": channel_id.startswith("C"),
            "is_group": channel_id.startswith("G"),
            "is_im": channel_id.startswith("D"),
            "is_mpim": False,
            "is_private": private,
            "is_archived": False,
            "is_member": True,
            "created": 1_700_000_000,
        }

    def _user_info(self, user_id: str) -> dict:
        known = self._users.get(user_id)
        if known is not None:
            return dict(known)
        name = "gateway" if user_id == BOT_USER_ID else user_id.lower()
        return {
            "id": user_id,
            "team_id": TEAM_ID,
            "name": name,
            "real_name": name,
            "deleted": False,
            "is_bot": user_id == BOT_USER_ID,
            "tz": "UTC",
            "profile": {"display_name": name, "real_name": name},
        }

    def _channel_arg(self, args: dict) -> str:
        channel = args.get("channel")
        if not isinstance(channel, str) or not channel:
            raise _SlackError("channel_not_found")
        if channel.startswith("#"):
            for info in self._channels.values():
                if info["name"] == channel[1:]:
                    return info["id"]
            raise _SlackError("channel_not_found")
        return channel

    def _check_can_post(self, channel: str) -> None:
        info = self._channel_info(channel)
        if info["is_member"]:
            return
        if info["is_private"]:
            raise _SlackError("channel_not_found")
        if "chat:write.public" not in self.scopes:
            raise _SlackError("not_in_channel")

    def _content(self, args: dict) -> dict:
        """text/blocks/attachments of a message, validated; only the keys that were given."""
        content = {k: args[k] for k in ("text", "blocks", "attachments") if args.get(k) is not None}
        blocks = content.get("blocks")
        if isinstance(blocks, str):
            raise _SlackError("invalid_blocks_format", ["[ERROR] blocks must be a JSON array"])
        if blocks is not None:
            problems = validate_blocks(blocks)
            if problems:
                raise _SlackError("invalid_blocks", problems)
        if not content.get("text") and not blocks and not content.get("attachments"):
            raise _SlackError("no_text")
        text = content.get("text")
        if text is not None:
            text = str(text)
            content["text"] = text[:TEXT_LIMIT]
            content["truncated"] = len(text) > TEXT_LIMIT
        return content

    @staticmethod
    def _public(message: dict) -> dict:
        out = {
            "type": "message",
            "user": message["user"],
            "bot_id": message["bot_id"],
            "ts": message["ts"],
            "text": message["text"],
        }
        for key in ("blocks", "attachments", "thread_ts"):
            if message.get(key) is not None:
                out[key] = message[key]
        return copy.deepcopy(out)

    def _new_message(self, channel: str, content: dict, args: dict, via: str) -> dict:
        ts = self._next_ts()
        message = {
            "ts": ts,
            "channel": channel,
            "text": content.get("text", ""),
            "blocks": content.get("blocks"),
            "attachments": content.get("attachments"),
            "thread_ts": args.get("thread_ts") or None,
            "reply_broadcast": _truthy(args.get("reply_broadcast")),
            "updated": 0,
            "truncated": content.get("truncated", False),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "unfurl_links": args.get("unfurl_links"),
            "unfurl_media": args.get("unfurl_media"),
            "via": via,
        }
        self._messages[ts] = message
        return message

    def _find_message(self, channel: str, ts: Any) -> dict:
        message = self._messages.get(ts) if isinstance(ts, str) else None
        if message is None or message["channel"] != channel:
            raise _SlackError("message_not_found")
        return message

    def _edit(self, message: dict, content: dict) -> None:
        for key in ("text", "blocks", "attachments", "truncated"):
            if key in content:
                message[key] = content[key]
        message["updated"] += 1

    def _auth_test(self, args: dict) -> dict:
        return {
            "url": TEAM_URL,
            "team": "Test Team",
            "user": "gateway",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        self._check_can_post(channel)
        message = self._new_message(channel, self._content(args), args, "api")
        return {"channel": channel, "ts": message["ts"], "message": self._public(message)}

    def _chat_update(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        message = self._find_message(channel, args.get("ts"))
        self._check_can_post(channel)
        self._edit(message, self._content(args))
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._public(message),
        }

    def _chat_post_ephemeral(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        user = args.get("user")
        if not isinstance(user, str) or not user:
            raise _SlackError("invalid_arguments", ["[ERROR] missing required field: user"])
        self._check_can_post(channel)
        content = self._content(args)
        ts = self._next_ts()
        self._ephemerals.append(
            {
                "message_ts": ts,
                "channel": channel,
                "user": user,
                "text": content.get("text", ""),
                "blocks": content.get("blocks"),
                "thread_ts": args.get("thread_ts") or None,
                "via": "api",
            }
        )
        return {"message_ts": ts}

    def _chat_delete(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        message = self._find_message(channel, args.get("ts"))
        del self._messages[message["ts"]]
        return {"channel": channel, "ts": message["ts"]}

    def _chat_get_permalink(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        message = self._find_message(channel, args.get("message_ts"))
        link = f"{TEAM_URL}archives/{channel}/p{message['ts'].replace('.', '')}"
        return {"channel": channel, "permalink": link}

    def _conversations_info(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        info = self._channel_info(channel)
        if channel in self._foreign or (info["is_private"] and not info["is_member"]):
            raise _SlackError("channel_not_found")
        return {"channel": info}

    def _conversations_members(self, args: dict) -> dict:
        """The channel's people, 1,000 (or ``limit``) a page, as Slack pages them."""
        channel = self._channel_arg(args)
        info = self._channel_info(channel)
        if channel in self._foreign or (info["is_private"] and not info["is_member"]):
            raise _SlackError("channel_not_found")
        people = sorted(self._members.get(channel, set()))
        limit = max(1, min(int(args.get("limit") or 100), 1000))
        start = int(args.get("cursor") or 0)
        page = people[start : start + limit]
        more = start + limit < len(people)
        return {
            "members": page,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _conversations_history(self, args: dict) -> dict:
        channel = self._channel_arg(args)
        info = self._channel_info(channel)
        if info["is_private"] and not info["is_member"]:
            raise _SlackError("channel_not_found")
        needed = "groups:history" if info["is_private"] else "channels:history"
        if needed not in self.scopes:
            raise _SlackError("missing_scope")
        if not info["is_member"]:
            raise _SlackError("not_in_channel")
        oldest = float(args.get("oldest") or 0)
        latest = float(args.get("latest") or "inf")
        limit = max(1, min(int(args.get("limit") or 100), 999))
        start = int(args.get("cursor") or 0)
        found = [
            self._public(m)
            for m in reversed(list(self._messages.values()))
            if m["channel"] == channel
            and (m["thread_ts"] in (None, m["ts"]))
            and oldest <= float(m["ts"]) <= latest
        ]
        page = found[start : start + limit]
        more = start + limit < len(found)
        return {
            "messages": page,
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _users_info(self, args: dict) -> dict:
        user = args.get("user")
        if not isinstance(user, str) or not user:
            raise _SlackError("user_not_found")
        return {"user": self._user_info(user)}

    def _respond(self, hook: dict, args: dict) -> None:
        """What Slack does with a response_url POST."""
        channel, message_ts = hook["channel"], hook["message_ts"]
        original = self._messages.get(message_ts) if message_ts else None
        if _truthy(args.get("delete_original")):
            if original is not None:
                del self._messages[message_ts]
            return
        content = self._content(args)
        if _truthy(args.get("replace_original")) and original is not None:
            self._edit(original, content)
        elif args.get("response_type") == "in_channel" and channel is not None:
            self._new_message(channel, content, args, "response_url")
        else:
            self._ephemerals.append(
                {
                    "message_ts": self._next_ts(),
                    "channel": channel,
                    "user": None,
                    "text": content.get("text", ""),
                    "blocks": content.get("blocks"),
                    "thread_ts": args.get("thread_ts") or None,
                    "via": "response_url",
                }
            )

    def _views_publish(self, args: dict) -> dict:
        user = args.get("user_id")
        if not isinstance(user, str) or not user:
            raise _SlackError("invalid_arguments", ["[ERROR] missing required field: user_id"])
        view = args.get("view")
        problems = validate_view(view, "home")
        if problems:
            raise _SlackError("invalid_arguments", problems)
        with self._lock:
            self._homes[user] = view
        return {"view": {"id": f"V{len(self._homes):08d}", **view}}

    def _views_open(self, args: dict) -> dict:
        trigger = args.get("trigger_id")
        if not isinstance(trigger, str) or not trigger:
            raise _SlackError("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        view = args.get("view")
        problems = validate_view(view, "modal")
        if problems:
            raise _SlackError("invalid_arguments", problems)
        with self._lock:
            self._modals.append({"trigger_id": trigger, "view": view})
        return {"view": {"id": f"V{len(self._modals):08d}M", **view}}

    def _files_get_upload_url_external(self, args: dict) -> dict:
        if "files:write" not in self.scopes:
            raise _SlackError("missing_scope")
        filename, length = args.get("filename"), args.get("length")
        if not isinstance(filename, str) or not filename or str(length or "").strip() == "":
            raise _SlackError("invalid_arguments")
        file_id = f"F{len(self._uploads) + 1:09d}"
        self._uploads[file_id] = {
            "id": file_id,
            "filename": filename,
            "length": int(length),
            "content": None,
            "shared": False,
            "title": None,
            "channel": None,
            "thread_ts": None,
        }
        return {"upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, args: dict) -> dict:
        if "files:write" not in self.scopes:
            raise _SlackError("missing_scope")
        files = args.get("files")
        if isinstance(files, str):
            with contextlib.suppress(ValueError):
                files = json.loads(files)
        if not isinstance(files, list) or not files:
            raise _SlackError("invalid_arguments")
        channel = args.get("channel_id") or args.get("channels")
        thread_ts = args.get("thread_ts")
        if channel:
            self._check_can_post(str(channel))
        done = []
        for item in files:
            upload = self._uploads.get(str(item.get("id")) if isinstance(item, dict) else "")
            if upload is None or upload["content"] is None:
                raise _SlackError("file_not_found")
            if len(upload["content"]) != upload["length"]:
                raise _SlackError("file_upload_size_mismatch")
            upload.update(
                shared=True, title=item.get("title"), channel=channel, thread_ts=thread_ts
            )
            done.append({"id": upload["id"], "title": upload["title"] or upload["filename"]})
        return {"files": done}

    _METHODS: ClassVar[dict[str, Callable[[SlackStandIn, dict], dict]]] = {
        "files.getUploadURLExternal": _files_get_upload_url_external,
        "files.completeUploadExternal": _files_complete_upload_external,
        "auth.test": _auth_test,
        "chat.postMessage": _chat_post_message,
        "chat.update": _chat_update,
        "chat.postEphemeral": _chat_post_ephemeral,
        "chat.delete": _chat_delete,
        "chat.getPermalink": _chat_get_permalink,
        "conversations.info": _conversations_info,
        "conversations.history": _conversations_history,
        "conversations.members": _conversations_members,
        "users.info": _users_info,
        "views.publish": _views_publish,
        "views.open": _views_open,
    }
