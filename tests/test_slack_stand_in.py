"""The Slack stand-in and the signed requests behave like Slack, for the real SDK and Bolt."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from urllib.parse import parse_qs

import aiohttp
import httpx
import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from tests.slack.signing import (
    SIGNING_SECRET,
    block_actions_body,
    signed_headers,
    slash_command_body,
)
from tests.slack.stand_in import validate_blocks

TOKEN = "xoxb-test"


@pytest.fixture
async def client(slack):
    return AsyncWebClient(token=TOKEN, base_url=slack.api_url)


def _section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


async def test_post_reply_update_and_ephemeral(slack, client):
    assert slack.api_url.startswith("http://127.0.0.1:") and slack.api_url.endswith("/api/")
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "502 on site.test"}},
        _section("*Cause:* upstream refused the connection"),
    ]
    parent = await client.chat_postMessage(
        channel="C123", text="502 on site.test", blocks=blocks, unfurl_links=False
    )
    assert parent["ok"] and parent["channel"] == "C123"
    assert parent["message"]["blocks"] == blocks
    reply = await client.chat_postMessage(
        channel="C123",
        thread_ts=parent["ts"],
        reply_broadcast=True,
        text="details",
        blocks=[SectionBlock(text="more *details*")],  # SDK model objects work too
    )
    other = await client.chat_postMessage(channel="C123", text="unrelated", blocks=json.dumps([]))
    assert parent["ts"] < reply["ts"] < other["ts"]

    updated = await client.chat_update(channel="C123", ts=parent["ts"], text="502: fixed")
    assert updated["ts"] == parent["ts"] and updated["text"] == "502: fixed"
    ephemeral = await client.chat_postEphemeral(channel="C123", user="U123", text="only you")
    assert ephemeral["message_ts"] > other["ts"]

    messages = slack.messages()
    assert list(messages) == [parent["ts"], reply["ts"], other["ts"]]
    top = messages[parent["ts"]]
    assert top["text"] == "502: fixed" and top["blocks"] == blocks  # blocks kept, not sent again
    assert top["updated"] == 1 and top["thread_ts"] is None and top["unfurl_links"] is False
    [in_thread] = slack.thread(parent["ts"])
    assert in_thread["text"] == "details" and in_thread["reply_broadcast"] is True
    assert in_thread["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "more *details*"}}
    ]
    assert slack.ephemerals()[0]["user"] == "U123"
    assert slack.ephemerals()[0]["text"] == "only you"

    post = slack.calls_to("chat.postMessage")[0]
    assert post.token == TOKEN and post.content_type == "application/json"
    assert post.args["blocks"] == blocks and post.args["channel"] == "C123"
    assert slack.calls_to("chat.postMessage")[2].args["blocks"] == []  # a JSON string, decoded
    assert [c.method for c in slack.calls] == [
        "chat.postMessage",
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "chat.postEphemeral",
    ]
    assert all(c.status == 200 and c.response["ok"] for c in slack.calls)


async def test_what_the_sdk_sends_for_other_methods(slack, client):
    auth = await client.auth_test()
    assert (auth["user_id"], auth["bot_id"], auth["team_id"]) == ("UBOT", "BBOT", "T1")
    info = await client.conversations_info(channel="G42", include_num_members=True)
    assert info["channel"]["id"] == "G42" and info["channel"]["is_private"] is True
    assert (await client.conversations_info(channel="C1"))["channel"]["is_private"] is False
    assert (await client.users_info(user="U123"))["user"]["id"] == "U123"
    posted = await client.chat_postMessage(channel="C1", text="x")
    link = await client.chat_getPermalink(channel="C1", message_ts=posted["ts"])
    assert link["permalink"].endswith(posted["ts"].replace(".", ""))
    await client.chat_delete(channel="C1", ts=posted["ts"])
    assert slack.messages() == {}

    # the SDK always sends a Content-Type; only chat.* carry a body, as JSON; the others put
    # their arguments in the query string
    form, js = "application/x-www-form-urlencoded", "application/json"
    sent = {c.method: (c.http_method, c.content_type, c.body_size > 0) for c in slack.calls}
    assert sent == {
        "auth.test": ("POST", form, False),
        "conversations.info": ("GET", form, False),
        "users.info": ("GET", form, False),
        "chat.postMessage": ("POST", js, True),
        "chat.getPermalink": ("GET", form, False),
        "chat.delete": ("POST", form, False),
    }
    assert slack.calls_to("conversations.info")[0].args == {
        "channel": "G42",
        "include_num_members": "1",
    }
    assert all(c.token == TOKEN for c in slack.calls)


async def test_fail_next_raises_slack_api_error_once(slack, client):
    slack.fail_next("chat.postMessage", "not_in_channel")
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C123", text="hi")
    assert caught.value.response["error"] == "not_in_channel"
    assert (await client.chat_postMessage(channel="C123", text="hi"))["ok"]
    first, second = slack.calls_to("chat.postMessage")
    assert first.response == {"ok": False, "error": "not_in_channel"} and second.response["ok"]
    assert len(slack.messages()) == 1


async def test_rate_limit_is_retried_after_retry_after(slack):
    client = AsyncWebClient(
        token=TOKEN,
        base_url=slack.api_url,
        retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
    )
    slack.rate_limit_next("chat.postMessage", retry_after=1)
    started = time.monotonic()
    response = await client.chat_postMessage(channel="C123", text="hi")
    assert response["ok"] and time.monotonic() - started >= 1.0
    limited, retried = slack.calls_to("chat.postMessage")
    assert limited.status == 429 and limited.response["error"] == "ratelimited"
    assert retried.status == 200 and retried.at - limited.at >= 1.0


async def test_rate_limit_without_retry_handler_raises(slack):
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url, retry_handlers=[])
    slack.rate_limit_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(channel="C123", text="hi")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "7"
    assert caught.value.response["error"] == "ratelimited"


async def test_invalid_blocks_are_refused_and_recorded(slack, client):
    with pytest.raises(SlackApiError) as caught:
        await client.chat_postMessage(
            channel="C123", text="too many", blocks=[_section(f"b{i}") for i in range(51)]
        )
    assert caught.value.response["error"] == "invalid_blocks"
    assert caught.value.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert len(slack.calls_to("chat.postMessage")[0].args["blocks"]) == 51
    assert slack.messages() == {}
    ok = await client.chat_postMessage(
        channel="C123", text="fits", blocks=[_section(f"b{i}") for i in range(50)]
    )
    assert ok["ok"]


def _button(text: str = "Re-run", action_id: str = "rerun") -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "action_id": action_id}


@pytest.mark.parametrize(
    ("block", "pointer"),
    [
        (_section("x" * 3001), "/blocks/0/text/text"),
        ({"type": "section", "text": {"type": "mrkdwn", "text": ""}}, "/blocks/0/text/text"),
        (
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
            "/blocks/0/fields",
        ),
        (
            {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
            "/blocks/0/text/text",
        ),
        ({"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}}, "/blocks/0/text/type"),
        (
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11},
            "/blocks/0/elements",
        ),
        (
            {"type": "actions", "elements": [_button(action_id=f"a{i}") for i in range(26)]},
            "/blocks/0/elements",
        ),
        ({"type": "actions", "elements": [_button("b" * 76)]}, "/blocks/0/elements/0/text/text"),
        (
            {"type": "actions", "elements": [_button(action_id="a" * 256)]},
            "/blocks/0/elements/0/action_id",
        ),
        ({"type": "divider", "block_id": "i" * 256}, "/blocks/0/block_id"),
        ({"type": "nonsense"}, "/blocks/0/type"),
    ],
)
def test_block_kit_limits(block, pointer):
    [problem] = validate_blocks([block])
    assert problem.startswith("[ERROR] ") and problem.endswith(f"[json-pointer:{pointer}]")


def test_block_kit_limits_are_inclusive():
    at_limit = [
        _section("x" * 3000),
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {"type": "actions", "elements": [_button(action_id=f"a{i}") for i in range(25)]},
        {"type": "actions", "block_id": "i" * 255, "elements": [_button("b" * 75, "a" * 255)]},
        {"type": "divider"},
    ]
    assert validate_blocks(at_limit) == []
    assert validate_blocks([{"type": "divider", "block_id": "x"}] * 2) == [
        "[ERROR] duplicate block_id: x [json-pointer:/blocks/1/block_id]"
    ]
    # what the project gets from slack_sdk's own models passes too
    built = ActionsBlock(elements=[ButtonElement(text="Re-run", action_id="rerun", value="v")])
    assert validate_blocks([built.to_dict()]) == []


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
@pytest.mark.parametrize(
    ("method", "kwargs", "error"),
    [
        ("chat_postMessage", {"channel": "", "text": "x"}, "channel_not_found"),
        ("chat_postMessage", {"channel": "C1"}, "no_text"),
        ("chat_update", {"channel": "C1", "ts": "1.000001", "text": "x"}, "message_not_found"),
        ("chat_postEphemeral", {"channel": "C1", "user": "", "text": "x"}, "invalid_arguments"),
        (
            "chat_postMessage",
            {"channel": "C1", "text": "x", "blocks": "[{"},
            "invalid_blocks_format",
        ),
    ],
)
async def test_argument_errors(slack, client, method, kwargs, error):
    with pytest.raises(SlackApiError) as caught:
        await getattr(client, method)(**kwargs)
    assert caught.value.response["error"] == error
    assert len(slack.calls) == 1


async def test_unknown_method_and_missing_token(slack, client):
    with pytest.raises(SlackApiError) as caught:
        await client.api_call("apps.frobnicate")
    assert caught.value.response["error"] == "unknown_method"
    with pytest.raises(SlackApiError) as caught:
        await AsyncWebClient(base_url=slack.api_url).chat_postMessage(channel="C1", text="x")
    assert caught.value.response["error"] == "not_authed"


async def test_channel_membership(slack, client):
    slack.add_channel("C9", "ops", is_member=False)
    slack.add_channel("G9", "secret", is_member=False)
    assert (await client.chat_postMessage(channel="C9", text="x"))["ok"]  # chat:write.public
    assert (await client.chat_postMessage(channel="#ops", text="x"))["channel"] == "C9"
    slack.scopes.discard("chat:write.public")
    for channel, error in [("C9", "not_in_channel"), ("G9", "channel_not_found")]:
        with pytest.raises(SlackApiError) as caught:
            await client.chat_postMessage(channel=channel, text="x")
        assert caught.value.response["error"] == error


async def test_response_url_posts_are_recorded(slack, client):
    parent = await client.chat_postMessage(channel="C123", text="diagnosing…")
    url = slack.response_url("cmd", channel="C123", message_ts=parent["ts"])
    assert url.startswith(slack.url)

    async with (
        aiohttp.ClientSession() as session,
        session.post(url, json={"text": "working on it"}) as resp,
    ):
        assert (resp.status, await resp.text()) == (200, "ok")
    async with httpx.AsyncClient() as http:
        resp = await http.post(url, json={"text": "done", "replace_original": True})
        assert resp.status_code == 200
        resp = await http.post(url, json={"text": "for all", "response_type": "in_channel"})
        assert resp.status_code == 200
    webhook = await AsyncWebhookClient(url).send(text="via the SDK", blocks=[_section("b")])
    assert webhook.status_code == 200 and webhook.body == "ok"

    calls = slack.calls_to("response_url")
    assert [c.args["text"] for c in calls] == ["working on it", "done", "for all", "via the SDK"]
    assert calls[3].args["blocks"] == [_section("b")] and calls[3].token is None
    assert all(c.content_type == "application/json" for c in calls)
    assert [e["text"] for e in slack.ephemerals()] == ["working on it", "via the SDK"]
    messages = slack.messages()
    assert messages[parent["ts"]]["text"] == "done" and messages[parent["ts"]]["updated"] == 1
    assert [m["text"] for m in messages.values()] == ["done", "for all"]

    async with httpx.AsyncClient() as http:
        assert (await http.post(url, json={"text": "5th"})).status_code == 200
        used = await http.post(url, json={"text": "6th"})
    assert (used.status_code, used.text) == (404, "used_url")

    slack.fail_next("response_url", "expired_url")
    async with httpx.AsyncClient() as http:
        expired = await http.post(slack.response_url("other"), json={"text": "late"})
    assert (expired.status_code, expired.text) == (404, "expired_url")


async def test_delay_next_holds_only_that_call(slack, client):
    slack.delay_next("chat.update", 0.5)
    parent = await client.chat_postMessage(channel="C1", text="x")
    slow = asyncio.create_task(client.chat_update(channel="C1", ts=parent["ts"], text="y"))
    await asyncio.sleep(0.1)
    assert (await client.auth_test())["ok"] and not slow.done()
    assert await slack.wait_for_async(lambda s: s.messages()[parent["ts"]]["updated"] == 1)
    assert (await slow)["ok"]


def test_usable_from_threads_and_subprocesses(slack):
    # the synchronous SDK client, from this (non-async) test's thread
    sync = WebClient(token=TOKEN, base_url=slack.api_url)
    posted = sync.chat_postMessage(channel="C1", text="from sync", blocks=[_section("s")])
    call = slack.calls_to("chat.postMessage")[0]
    assert call.content_type == "application/json" and call.args["blocks"] == [_section("s")]
    sync.api_call("chat.update", data={"channel": "C1", "ts": posted["ts"], "text": "form"})
    form = slack.calls_to("chat.update")[0]
    assert form.content_type == "application/x-www-form-urlencoded" and form.args["text"] == "form"

    code = (
        "import json, sys, urllib.request\n"
        "req = urllib.request.Request(sys.argv[1] + 'chat.postMessage',"
        " data=b'channel=C2&text=child&blocks=%5B%5D',"
        " headers={'Authorization': 'Bearer xoxb-child'})\n"
        "print(json.load(urllib.request.urlopen(req, timeout=10))['ok'])\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, slack.api_url], capture_output=True, text=True, timeout=30
    )
    assert out.stdout.strip() == "True", out.stderr
    assert slack.wait_for(lambda s: s.calls_to("chat.postMessage")[1].token == "xoxb-child")
    assert slack.calls_to("chat.postMessage")[1].args == {
        "channel": "C2",
        "text": "child",
        "blocks": [],
    }
    assert not slack.wait_for(lambda s: len(s.calls) > 10, timeout=0.05)


def test_signed_headers_verify_like_slack():
    body = slash_command_body("https://site.test")
    headers = signed_headers(body)
    ts, sig = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sig.startswith("v0=") and len(sig) == 3 + 64
    assert SignatureVerifier(SIGNING_SECRET).is_valid(body, ts, sig)
    assert not SignatureVerifier("another-secret").is_valid(body, ts, sig)
    assert not SignatureVerifier(SIGNING_SECRET).is_valid(body + "x", ts, sig)
    stale = signed_headers(body, timestamp=int(time.time()) - 301)
    assert not SignatureVerifier(SIGNING_SECRET).is_valid(
        body, stale["X-Slack-Request-Timestamp"], stale["X-Slack-Signature"]
    )


def test_request_bodies_have_slacks_fields():
    form = parse_qs(slash_command_body("check https://a.test?x=1&y=2", user_id="U9"))
    assert list(form) == [
        "token",
        "team_id",
        "team_domain",
        "channel_id",
        "channel_name",
        "user_id",
        "user_name",
        "command",
        "text",
        "api_app_id",
        "is_enterprise_install",
        "response_url",
        "trigger_id",
    ]
    assert form["text"] == ["check https://a.test?x=1&y=2"] and form["user_id"] == ["U9"]
    assert "enterprise_id" in parse_qs(slash_command_body("", enterprise_id="E1"))

    [raw] = parse_qs(block_actions_body("rerun", "site.test", message_ts="1.2"))["payload"]
    payload = json.loads(raw)
    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1.2",
        "channel_id": "C123",
        "is_ephemeral": False,
    }
    assert payload["message"]["ts"] == "1.2" and payload["user"]["id"] == "U123"
    [action] = payload["actions"]
    assert (action["action_id"], action["value"], action["type"]) == (
        "rerun",
        "site.test",
        "button",
    )


async def test_bolt_accepts_the_signed_requests_and_answers_through_the_stand_in(slack):
    client = AsyncWebClient(token=TOKEN, base_url=slack.api_url)
    app = AsyncApp(client=client, signing_secret=SIGNING_SECRET, process_before_response=True)
    seen: dict = {}

    @app.command("/gateway")
    async def command(ack, command, respond, client):
        await ack()
        seen["command"] = command
        await respond(f"checking {command['text']}")
        await client.chat_postMessage(channel=command["channel_id"], text="502: upstream down")

    @app.action("rerun")
    async def rerun(ack, body, respond):
        await ack()
        seen["action"] = body["actions"][0]
        await respond(text="re-running", replace_original=True)

    body = slash_command_body("site.test", response_url=slack.response_url("cmd"))
    response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=signed_headers(body)))
    assert response.status == 200
    assert seen["command"]["user_id"] == "U123" and seen["command"]["text"] == "site.test"
    assert slack.calls_to("response_url")[0].args["text"] == "checking site.test"
    [posted] = slack.messages().values()

    body = block_actions_body(
        "rerun",
        "site.test",
        message_ts=posted["ts"],
        response_url=slack.response_url("btn", channel="C123", message_ts=posted["ts"]),
    )
    response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=signed_headers(body)))
    assert response.status == 200 and seen["action"]["value"] == "site.test"
    assert slack.messages()[posted["ts"]]["text"] == "re-running"

    forged = signed_headers(body, secret="wrong")
    response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=forged))
    assert response.status == 401
