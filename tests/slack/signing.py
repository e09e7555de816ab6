"""Requests as Slack sends them to an HTTP-mode app: form bodies and their signatures.

    body = slash_command_body("https://site.test", response_url=slack.response_url())
    resp = await http.post(f"{app_url}/slack/events", content=body, headers=signed_headers(body))

``signed_headers`` signs with ``slack_sdk.signature.SignatureVerifier`` exactly as Slack does
(``v0=`` + hex HMAC-SHA256 of ``v0:{timestamp}:{raw body}``); the app must be configured with
``SIGNING_SECRET`` (e.g. ``SLACK_SIGNING_SECRET=test-signing-secret``). Pass an old
``timestamp`` (more than 5 minutes) or another ``secret`` to test that forgeries are refused.

The default ``response_url`` points at a closed port on 127.0.0.1, never at Slack: pass
``SlackStandIn.response_url()`` to see what the app sends there.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlencode

from slack_sdk.signature import SignatureVerifier

__all__ = [
    "SIGNING_SECRET",
    "block_actions_body",
    "message_action_body",
    "signed_headers",
    "slash_command_body",
]

SIGNING_SECRET = "test-signing-secret"
VERIFICATION_TOKEN = "verification-token"  # the deprecated `token` field Slack still sends
API_APP_ID = "A1"
NOWHERE_RESPONSE_URL = "http://127.0.0.1:9/commands/T1/0/nowhere"  # discard port: refused


def signed_headers(
    body: str | bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """The headers Slack sends with ``body``: its timestamp, signature and content type."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": signature or "",
    }


def slash_command_body(
    text: str,
    *,
    command: str = "/gateway",
    user_id: str = "U123",
    user_name: str = "alice",
    channel_id: str = "C123",
    channel_name: str = "incidents",
    team_id: str = "T1",
    team_domain: str = "test",
    enterprise_id: str | None = None,
    enterprise_name: str | None = None,
    api_app_id: str = API_APP_ID,
    response_url: str = NOWHERE_RESPONSE_URL,
    trigger_id: str = "t1",
    token: str = VERIFICATION_TOKEN,
) -> str:
    """A slash command's form body with Slack's fields in Slack's order.

    ``enterprise_id``/``enterprise_name`` are only present for Enterprise Grid workspaces, as in
    Slack's requests. A private channel has ``channel_name`` "privategroup", a DM "directmessage".
    """
    fields: list[tuple[str, str]] = [
        ("token", token),
        ("team_id", team_id),
        ("team_domain", team_domain),
    ]
    if enterprise_id is not None:
        fields += [("enterprise_id", enterprise_id), ("enterprise_name", enterprise_name or "")]
    fields += [
        ("channel_id", channel_id),
        ("channel_name", channel_name),
        ("user_id", user_id),
        ("user_name", user_name),
        ("command", command),
        ("text", text),
        ("api_app_id", api_app_id),
        ("is_enterprise_install", "false"),
        ("response_url", response_url),
        ("trigger_id", trigger_id),
    ]
    return urlencode(fields)


def block_actions_body(
    action_id: str,
    value: str,
    *,
    user_id: str = "U123",
    user_name: str = "alice",
    channel_id: str = "C123",
    channel_name: str = "incidents",
    team_id: str = "T1",
    team_domain: str = "test",
    message_ts: str = "1700000000.000100",
    message_text: str = "",
    message_blocks: list[dict] | None = None,
    is_ephemeral: bool = False,
    response_url: str = NOWHERE_RESPONSE_URL,
    block_id: str = "b1",
    button_text: str = "Button",
    trigger_id: str = "t1",
    api_app_id: str = API_APP_ID,
    token: str = VERIFICATION_TOKEN,
) -> str:
    """A button click's form body: ``payload=<JSON>`` shaped like Slack's block_actions payload.

    For an ephemeral message (``is_ephemeral=True``) Slack sends no ``message``, only the
    container.
    """
    now = f"{time.time():.6f}"
    payload: dict = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "api_app_id": api_app_id,
        "token": token,
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel_id,
            "is_ephemeral": is_ephemeral,
        },
        "trigger_id": trigger_id,
        "team": {"id": team_id, "domain": team_domain},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": channel_name},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": now,
            }
        ],
    }
    if not is_ephemeral:
        payload["message"] = {
            "type": "message",
            "user": "UBOT",
            "bot_id": "BBOT",
            "app_id": api_app_id,
            "team": team_id,
            "ts": message_ts,
            "text": message_text,
            "blocks": message_blocks if message_blocks is not None else [],
        }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})


def event_body(event: dict, *, team_id: str = "T1", api_app_id: str = API_APP_ID) -> str:
    """An Events API callback (JSON), e.g. ``{"type": "app_home_opened", "user": …}``."""
    return json.dumps(
        {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "api_app_id": api_app_id,
            "event": {"event_ts": f"{time.time():.6f}", **event},
            "type": "event_callback",
            "event_id": f"Ev{int(time.time() * 1000)}",
            "event_time": int(time.time()),
        }
    )


def view_submission_body(
    view: dict,
    values: dict,
    *,
    user_id: str = "U123",
    team_id: str = "T1",
    api_app_id: str = API_APP_ID,
) -> str:
    """A modal's submission (form body ``payload=<JSON>``): ``view`` as opened, with
    ``values`` as Slack fills ``view.state.values`` ({block_id: {action_id: value}})."""
    submitted = {**view, "id": "V1", "team_id": team_id, "state": {"values": values}}
    payload = {
        "type": "view_submission",
        "team": {"id": team_id, "domain": "test"},
        "user": {"id": user_id, "username": "alice", "name": "alice", "team_id": team_id},
        "api_app_id": api_app_id,
        "token": VERIFICATION_TOKEN,
        "trigger_id": "t2",
        "view": submitted,
        "response_urls": [],
        "is_enterprise_install": False,
        "enterprise": None,
    }
    return urlencode({"payload": json.dumps(payload)})


def message_action_body(
    callback_id: str,
    message_ts: str,
    message_text: str,
    *,
    message_user: str = "U999",
    thread_ts: str | None = None,
    user_id: str = "U123",
    user_name: str = "alice",
    channel_id: str = "C123",
    channel_name: str = "incidents",
    team_id: str = "T1",
    team_domain: str = "test",
    response_url: str = NOWHERE_RESPONSE_URL,
    trigger_id: str = "t1",
    token: str = VERIFICATION_TOKEN,
) -> str:
    """A message shortcut's form body: ``payload=<JSON>`` shaped like Slack's message_action
    payload (the message it was used on, its channel, who used it)."""
    message: dict = {
        "type": "message",
        "user": message_user,
        "ts": message_ts,
        "text": message_text,
        "team": team_id,
    }
    if thread_ts is not None:
        message["thread_ts"] = thread_ts
    payload = {
        "type": "message_action",
        "token": token,
        "action_ts": f"{time.time():.6f}",
        "team": {"id": team_id, "domain": team_domain},
        "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
        "channel": {"id": channel_id, "name": channel_name},
        "is_enterprise_install": False,
        "enterprise": None,
        "callback_id": callback_id,
        "trigger_id": trigger_id,
        "response_url": response_url,
        "message_ts": message_ts,
        "message": message,
    }
    return urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
