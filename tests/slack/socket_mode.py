"""Slack's Socket Mode, for the stand-in (``tests/slack/stand_in.py``): the mixin behind
``SlackStandIn``'s ``apps.connections.open`` and its WebSocket endpoint.

How Slack does it, and what the stand-in does alike (the SDK's
``slack_sdk.socket_mode.aiohttp.SocketModeClient``, which Bolt's ``AsyncSocketModeHandler``
uses, works against it unchanged):

1. The app calls ``apps.connections.open`` with its *app-level* token (``xapp-…``) in
   ``Authorization: Bearer``. Slack answers ``{"ok": true, "url": "wss://wss-primary.slack.com/
   link/?ticket=…&app_id=…"}``; here the URL is ``ws://127.0.0.1:PORT/socket-mode/link/?ticket=
   …&app_id=A1`` (plain ``ws://``: aiohttp's ``ws_connect`` ignores ``ssl=True`` for it). No token
   is ``not_authed``, a bot or user token (``xox…``) ``not_allowed_token_type``, anything else not
   starting with ``xapp-`` ``invalid_auth``.
2. The app opens a WebSocket to that URL (an unknown ticket is refused with HTTP 401) and gets
   ``{"type": "hello", "num_connections": N, "debug_info": {...}, "connection_info":
   {"app_id": "A1"}}``.
3. Slack sends envelopes: ``{"envelope_id", "type", "accepts_response_payload", "payload"}``,
   ``type`` one of ``slash_commands`` (payload: the command's fields as a dict of strings,
   ``accepts_response_payload: true``), ``interactive`` (payload: the block_actions/… payload
   itself, not form-encoded; ``accepts_response_payload: false`` for block_actions),
   ``events_api`` (plus ``retry_attempt``/``retry_reason``).
4. The app acks each one on the socket with ``{"envelope_id": "…"}`` or ``{"envelope_id": "…",
   "payload": {…}}`` (Bolt: ``ack()`` → no payload; ``ack(text="…")`` → ``{"text": "…"}``; a
   dict or blocks → that JSON). For a slash command Slack shows an ack payload as it shows an
   HTTP response body: an ephemeral message to the user (``response_type: in_channel``: a message
   in the channel); the stand-in records those in ``ephemerals()`` / ``messages()`` with
   ``via="ack"``.
5. Slack may send ``{"type": "disconnect", "reason": "warning" | "refresh_requested" |
   "link_disabled" | "too_many_websockets", "debug_info": {...}}``; the SDK (3.48), whatever
   the reason, calls ``apps.connections.open`` again and opens a new socket, closing the old
   one. With
   ``debug_reconnects=true`` in the socket URL Slack sends ``refresh_requested`` after about 360 s
   instead of hours; here after ``socket_debug_reconnect_after`` seconds (put the parameter in the
   issued URLs with ``socket_url_params``). The old socket is closed by the stand-in
   ``socket_disconnect_grace`` seconds after a disconnect if the app has not closed it.
6. Keep-alive: the SDK pings (``sdk-ping-pong:<time>``) every ``ping_interval`` seconds (Bolt's
   handler: 10 s; the first right after connecting) and reconnects when pongs stop for 4
   intervals; the stand-in answers pings (``socket_answer_pings = False`` to play a half-open
   link) and counts them per connection.

Test-facing API (on ``SlackStandIn``): ``send_slash_command``, ``send_block_action``,
``send_envelope``, ``send_disconnect``, ``drop_sockets``, ``acks``, ``envelopes``,
``wait_for_ack`` / ``wait_for_ack_async``, ``wait_for_socket``, ``socket_connected``,
``socket_connections``. Envelopes go to the newest open connection; with ``socket_spread = True``
they go round the open connections in turn, as Slack spreads them over an app's connections
(several replicas of one app): each envelope to one connection only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode

from aiohttp import WSMsgType, web

from tests.slack.signing import (
    API_APP_ID,
    block_actions_body,
    message_action_body,
    slash_command_body,
)

__all__ = ["Envelope", "SocketConnection", "SocketModeMixin"]

SOCKET_PATH = "/socket-mode/link/"
DEBUG_RECONNECT_AFTER = 360.0  # what Slack does with debug_reconnects=true
DISCONNECT_GRACE = 10.0  # Slack warns about 10 s before it closes a connection


@dataclass
class SocketConnection:
    """One WebSocket an app opened (or tried to open) on the stand-in."""

    id: int
    ticket: str
    token: str  # the app token apps.connections.open issued this ticket to
    query: dict  # the socket URL's query parameters
    opened_at: float  # time.monotonic()
    closed_at: float | None = None
    pings: int = 0  # ping frames the app sent
    received: list[str] = field(default_factory=list)  # text frames from the app, in order
    sent: list[dict] = field(default_factory=list)  # messages the stand-in sent, in order
    close_code: int | None = None

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass
class Envelope:
    """One envelope the stand-in sent, and the app's ack (if any)."""

    envelope_id: str
    type: str
    payload: dict
    accepts_response_payload: bool
    connection: int  # SocketConnection.id it went to
    sent_at: float  # time.monotonic()
    acked: bool = False
    ack: dict | None = None  # the whole ack message, e.g. {"envelope_id": ..., "payload": {...}}
    acked_at: float | None = None

    @property
    def ack_payload(self) -> dict | None:
        return (self.ack or {}).get("payload")

    @property
    def ack_seconds(self) -> float | None:
        return None if self.acked_at is None else self.acked_at - self.sent_at


class SocketModeMixin:
    """Socket Mode for ``SlackStandIn`` (needs its ``_lock``, ``_loop``, ``port``, ``url``,
    ``response_url``, ``_holds``, and the message helpers ``_content``/``_new_message``)."""

    # settings a test may change at any time
    socket_answer_pings: bool = True
    socket_debug_reconnect_after: float = DEBUG_RECONNECT_AFTER
    socket_disconnect_grace: float = DISCONNECT_GRACE
    socket_spread: bool = False  # round the open connections instead of the newest
    socket_url_params: dict[str, str]

    def _init_socket_mode(self) -> None:
        self.socket_url_params = {}
        self._sm_tickets: dict[str, str] = {}  # ticket -> app token
        self._sm_connections: list[SocketConnection] = []
        self._sm_live: dict[int, web.WebSocketResponse] = {}
        self._sm_count = 0
        self._sm_tasks: set[asyncio.Task] = set()  # disconnect timers, kept from collection
        self._sm_refused: list[dict] = []  # socket attempts with an unknown ticket
        self._sm_envelopes: dict[str, Envelope] = {}
        self._sm_unmatched: list[dict] = []  # frames that were not an ack of a known envelope
        self._sm_turn = 0  # socket_spread: the next connection's turn

    def _reset_socket_state(self) -> None:
        """Forget envelopes, acks and closed connections; open sockets and tickets stay."""
        self._sm_envelopes = {}
        self._sm_unmatched = []
        self._sm_refused = []
        self._sm_connections = [c for c in self._sm_connections if c.open]

    def _add_socket_routes(self, app: web.Application) -> None:
        app.router.add_get(SOCKET_PATH, self._handle_socket)

    # -- apps.connections.open (called from _handle_api with the lock not held)

    def _apps_connections_open(self, token: str | None) -> dict:
        if not token:
            return {"ok": False, "error": "not_authed"}
        if token.startswith("xox"):
            return {"ok": False, "error": "not_allowed_token_type"}
        if not token.startswith("xapp-"):
            return {"ok": False, "error": "invalid_auth"}
        ticket = uuid.uuid4().hex
        with self._lock:
            self._sm_tickets[ticket] = token
            params = {"ticket": ticket, "app_id": API_APP_ID} | dict(self.socket_url_params)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}{SOCKET_PATH}?{urlencode(params)}"}

    # -- the WebSocket (runs on the stand-in's loop)

    async def _handle_socket(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        with self._lock:
            token = self._sm_tickets.get(ticket)
            if token is None:
                self._sm_refused.append({"query": dict(request.query), "at": time.monotonic()})
        if token is None:
            return web.Response(status=401, text="invalid_ticket")
        ws = web.WebSocketResponse(autoping=False, max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        with self._lock:
            self._sm_count += 1
            conn = SocketConnection(
                id=self._sm_count,
                ticket=ticket,
                token=token,
                query=dict(request.query),
                opened_at=time.monotonic(),
            )
            self._sm_connections.append(conn)
            self._sm_live[conn.id] = ws
            live = len(self._sm_live)
        timers: list[asyncio.Task] = []
        try:
            await self._socket_send(
                conn,
                ws,
                {
                    "type": "hello",
                    "num_connections": live,
                    "debug_info": {
                        "host": "applink-stand-in",
                        "build_number": 1,
                        "approximate_connection_time": 18060,
                    },
                    "connection_info": {"app_id": API_APP_ID},
                },
            )
            if str(conn.query.get("debug_reconnects", "")).lower() == "true":
                timers.append(
                    asyncio.get_running_loop().create_task(self._debug_reconnect(conn, ws))
                )
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_socket_text(conn, msg.data)
                elif msg.type == WSMsgType.PING:
                    with self._lock:
                        conn.pings += 1
                    if self.socket_answer_pings:
                        await ws.pong(msg.data)
                elif msg.type == WSMsgType.BINARY:
                    with self._lock:
                        self._sm_unmatched.append({"binary": bytes(msg.data)})
        finally:
            for timer in timers:
                timer.cancel()
            with self._lock:
                conn.closed_at = time.monotonic()
                conn.close_code = ws.close_code
                self._sm_live.pop(conn.id, None)
        return ws

    async def _socket_send(
        self, conn: SocketConnection, ws: web.WebSocketResponse, message: dict
    ) -> None:
        with self._lock:
            conn.sent.append(message)
        await ws.send_str(json.dumps(message, separators=(",", ":")))

    async def _debug_reconnect(self, conn: SocketConnection, ws: web.WebSocketResponse) -> None:
        await asyncio.sleep(self.socket_debug_reconnect_after)
        await self._disconnect(conn, ws, "refresh_requested", self.socket_disconnect_grace)

    async def _disconnect(
        self, conn: SocketConnection, ws: web.WebSocketResponse, reason: str, grace: float
    ) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._socket_send(
                conn,
                ws,
                {
                    "type": "disconnect",
                    "reason": reason,
                    "debug_info": {"host": "applink-stand-in"},
                },
            )
        if reason == "warning":
            return  # Slack follows a warning with refresh_requested; the socket stays up
        await asyncio.sleep(grace)
        if not ws.closed:
            await ws.close(code=1001, message=b"refresh")

    def _on_socket_text(self, conn: SocketConnection, data: str) -> None:
        now = time.monotonic()
        try:
            message = json.loads(data)
        except ValueError:
            message = None
        with self._lock:
            conn.received.append(data)
            envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
            envelope = self._sm_envelopes.get(envelope_id) if isinstance(envelope_id, str) else None
            if envelope is None or envelope.acked:
                self._sm_unmatched.append({"connection": conn.id, "data": data})
                return
            envelope.acked, envelope.ack, envelope.acked_at = True, message, now
            payload = message.get("payload")
            if envelope.type == "slash_commands" and isinstance(payload, dict) and payload:
                self._show_ack(envelope, payload)

    def _show_ack(self, envelope: Envelope, payload: dict) -> None:
        """What Slack does with a slash command's ack payload (the lock is held)."""
        from tests.slack.stand_in import _SlackError  # the stand-in imports this module

        try:
            content = self._content(payload)
        except _SlackError as exc:
            self._sm_unmatched.append({"envelope_id": envelope.envelope_id, "error": exc.error})
            return
        channel = envelope.payload.get("channel_id")
        if payload.get("response_type") == "in_channel":
            self._new_message(channel, content, payload, "ack")
            return
        self._ephemerals.append(
            {
                "message_ts": self._next_ts(),
                "channel": channel,
                "user": envelope.payload.get("user_id"),
                "text": content.get("text", ""),
                "blocks": content.get("blocks"),
                "thread_ts": None,
                "via": "ack",
            }
        )

    # -- test-facing API (any thread)

    def _run(self, coro, timeout: float = 5.0):
        loop = self._loop
        if loop is None:
            coro.close()
            raise RuntimeError("the Slack stand-in is not running")
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    def _newest_live(self) -> tuple[SocketConnection, web.WebSocketResponse]:
        with self._lock:
            for conn in reversed(self._sm_connections):
                ws = self._sm_live.get(conn.id)
                if ws is not None and not ws.closed:
                    return conn, ws
        raise RuntimeError("no app is connected in Socket Mode")

    def _next_live(self) -> tuple[SocketConnection, web.WebSocketResponse]:
        with self._lock:
            live = [
                (c, self._sm_live[c.id])
                for c in self._sm_connections
                if c.id in self._sm_live and not self._sm_live[c.id].closed
            ]
            if not live:
                raise RuntimeError("no app is connected in Socket Mode")
            self._sm_turn += 1
            return live[self._sm_turn % len(live)]

    def send_envelope(
        self,
        type: str,
        payload: dict,
        *,
        accepts_response_payload: bool = False,
        envelope_id: str | None = None,
        **extra: Any,
    ) -> str:
        """Send ``{"envelope_id", "type", "accepts_response_payload", "payload", **extra}`` to
        the newest open connection; returns the envelope_id (its ack lands in ``acks``)."""
        conn, ws = self._next_live() if self.socket_spread else self._newest_live()
        envelope_id = envelope_id or str(uuid.uuid4())
        message = {
            "envelope_id": envelope_id,
            "type": type,
            "accepts_response_payload": accepts_response_payload,
            "payload": payload,
            **extra,
        }
        with self._lock:
            self._sm_envelopes[envelope_id] = Envelope(
                envelope_id=envelope_id,
                type=type,
                payload=payload,
                accepts_response_payload=accepts_response_payload,
                connection=conn.id,
                sent_at=time.monotonic(),
            )
        self._run(self._socket_send(conn, ws, message))
        return envelope_id

    def send_slash_command(self, text: str, **fields: Any) -> str:
        """A ``slash_commands`` envelope for ``/gateway text`` (``command=`` for another).

        ``fields`` are those of ``tests.slack.signing.slash_command_body`` (``channel_id``,
        ``user_id``, ``response_url``, …); without a ``response_url`` one on this stand-in is
        made for the envelope, tied to the channel."""
        envelope_id = fields.pop("envelope_id", None) or str(uuid.uuid4())
        fields.setdefault(
            "response_url",
            self.response_url(f"sm-{envelope_id}", channel=fields.get("channel_id", "C123")),
        )
        payload = dict(parse_qsl(slash_command_body(text, **fields), keep_blank_values=True))
        return self.send_envelope(
            "slash_commands", payload, accepts_response_payload=True, envelope_id=envelope_id
        )

    def send_block_action(self, action_id: str, value: str, **fields: Any) -> str:
        """An ``interactive`` envelope with a block_actions payload (a button click).

        ``fields`` are those of ``tests.slack.signing.block_actions_body`` (``message_ts``,
        ``message_blocks``, ``channel_id``, ``response_url``, …); without a ``response_url`` one on
        this stand-in is made, tied to the channel and the clicked message."""
        envelope_id = fields.pop("envelope_id", None) or str(uuid.uuid4())
        if "response_url" not in fields:
            fields["response_url"] = self.response_url(
                f"sm-{envelope_id}",
                channel=fields.get("channel_id", "C123"),
                message_ts=fields.get("message_ts"),
            )
        body = block_actions_body(action_id, value, **fields)
        payload = json.loads(parse_qs(body)["payload"][0])
        return self.send_envelope(
            "interactive", payload, accepts_response_payload=False, envelope_id=envelope_id
        )

    def send_message_action(
        self, callback_id: str, message_ts: str, message_text: str, **fields: Any
    ) -> str:
        """An ``interactive`` envelope with a message_action payload (a message shortcut).

        ``fields`` are those of ``tests.slack.signing.message_action_body`` (``thread_ts``,
        ``channel_id``, ``response_url``, …)."""
        envelope_id = fields.pop("envelope_id", None) or str(uuid.uuid4())
        fields.setdefault(
            "response_url",
            self.response_url(f"sm-{envelope_id}", channel=fields.get("channel_id", "C123")),
        )
        body = message_action_body(callback_id, message_ts, message_text, **fields)
        payload = json.loads(parse_qs(body)["payload"][0])
        return self.send_envelope(
            "interactive", payload, accepts_response_payload=False, envelope_id=envelope_id
        )

    def send_disconnect(
        self, reason: str = "refresh_requested", *, grace: float | None = None
    ) -> None:
        """Send ``{"type": "disconnect", "reason": reason}`` to every open connection; unless the
        reason is ``warning``, close each one ``grace`` seconds later (default
        ``socket_disconnect_grace``) if the app has not."""
        with self._lock:
            live = [(c, self._sm_live[c.id]) for c in self._sm_connections if c.id in self._sm_live]
        wait = self.socket_disconnect_grace if grace is None else grace

        async def send_all() -> None:
            loop = asyncio.get_running_loop()
            for conn, ws in live:
                task = loop.create_task(self._disconnect(conn, ws, reason, wait))
                self._sm_tasks.add(task)
                task.add_done_callback(self._sm_tasks.discard)
            await asyncio.sleep(0)

        self._run(send_all())

    def drop_sockets(self, code: int = 1011) -> None:
        """Close every open socket now, without a disconnect message (Slack going away)."""

        async def close_all() -> None:
            with self._lock:
                live = list(self._sm_live.values())
            for ws in live:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await ws.close(code=code, message=b"stand-in")

        self._run(close_all())

    @property
    def socket_connected(self) -> int:
        """How many Socket Mode connections are open now (0 when none: falsy)."""
        with self._lock:
            return sum(1 for ws in self._sm_live.values() if not ws.closed)

    @property
    def socket_connections(self) -> list[SocketConnection]:
        """Every connection so far, open or closed, oldest first (a snapshot)."""
        with self._lock:
            return [_copy_connection(c) for c in self._sm_connections]

    @property
    def socket_refused(self) -> list[dict]:
        """Socket attempts refused for an unknown ticket."""
        with self._lock:
            return list(self._sm_refused)

    @property
    def envelopes(self) -> list[Envelope]:
        """Every envelope sent, in order, with its ack (copies)."""
        with self._lock:
            return [_copy_envelope(e) for e in self._sm_envelopes.values()]

    @property
    def acks(self) -> dict[str, dict | None]:
        """envelope_id -> the ack's payload (None for a bare ack), for acked envelopes only."""
        with self._lock:
            return {e.envelope_id: e.ack_payload for e in self._sm_envelopes.values() if e.acked}

    @property
    def socket_unmatched(self) -> list[dict]:
        """What Slack could not use: frames acking nothing (unknown or repeated envelope_ids,
        non-JSON, binary) and slash command ack payloads it would refuse (with the ``error``)."""
        with self._lock:
            return list(self._sm_unmatched)

    def envelope(self, envelope_id: str) -> Envelope:
        with self._lock:
            return _copy_envelope(self._sm_envelopes[envelope_id])

    def wait_for_ack(self, envelope_id: str, timeout: float = 3.0) -> dict | None:
        """Block until ``envelope_id`` is acked; the whole ack message, or None on timeout."""
        if self.wait_for(lambda s: s._sm_envelopes[envelope_id].acked, timeout):
            return self.envelope(envelope_id).ack
        return None

    async def wait_for_ack_async(self, envelope_id: str, timeout: float = 3.0) -> dict | None:
        if await self.wait_for_async(lambda s: s._sm_envelopes[envelope_id].acked, timeout):
            return self.envelope(envelope_id).ack
        return None

    def wait_for_socket(self, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` connections are open (after their hello)."""
        return self.wait_for(lambda s: s.socket_connected >= count, timeout)

    async def _close_sockets(self) -> None:
        with self._lock:
            live = list(self._sm_live.values())
        for ws in live:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(code=1001, message=b"shutdown"), 1)


def _copy_connection(conn: SocketConnection) -> SocketConnection:
    return SocketConnection(
        id=conn.id,
        ticket=conn.ticket,
        token=conn.token,
        query=dict(conn.query),
        opened_at=conn.opened_at,
        closed_at=conn.closed_at,
        pings=conn.pings,
        received=list(conn.received),
        sent=[dict(m) for m in conn.sent],
        close_code=conn.close_code,
    )


def _copy_envelope(env: Envelope) -> Envelope:
    return Envelope(
        envelope_id=env.envelope_id,
        type=env.type,
        payload=env.payload,
        accepts_response_payload=env.accepts_response_payload,
        connection=env.connection,
        sent_at=env.sent_at,
        acked=env.acked,
        ack=env.ack,
        acked_at=env.acked_at,
    )
