"""Bolt wiring: thin listeners that parse, ack, and hand the work to `Gateway`.

Slack allows 3 seconds for the ack; parsing and the rate limits are pure and
take microseconds, so the ack goes out at once, with an ephemeral answer when
there is nothing more to do, and the check runs in a task of its own. A new
watch is the one exception: it is written (one short transaction) before the
ack, so a crash after Slack's "got it" never loses it.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot import logs, metrics
from bot.chat import SlackChat
from bot.render.home import MODAL_CALLBACK
from bot.render.slack import notice
from bot.service import Gateway, Request
from bot.settings import Settings
from bot.verbs import VERBS

log = logging.getLogger(__name__)

Body = dict[str, Any]  # what Bolt passes a listener, as Slack sent it

SHORTCUT_EXPLAIN = "gateway_explain"  # the message shortcut's callback id (manifest.yml)


class _CountedRateLimits(AsyncRateLimitErrorRetryHandler):
    """Retries 429s after Retry-After, as the SDK's handler does, and counts them."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is not None and response.status_code == 429:
            metrics.SLACK_RATE_LIMITED.labels(_method(request.url)).inc()
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class _CountedClient(AsyncWebClient):
    """The Web API client, counting every call by method and outcome for /metrics."""

    async def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> AsyncSlackResponse:
        method = api_method if api_method.replace(".", "").isalnum() else "other"
        try:
            response = await super().api_call(api_method, *args, **kwargs)
        except SlackApiError:
            metrics.SLACK_CALLS.labels(method, "error").inc()
            raise
        except (aiohttp.ClientError, TimeoutError, OSError):
            metrics.SLACK_CALLS.labels(method, "unreachable").inc()
            raise
        metrics.SLACK_CALLS.labels(method, "ok").inc()
        return response


def _method(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return name if name.replace(".", "").isalnum() and len(name) < 60 else "other"


def web_client(settings: Settings, session: aiohttp.ClientSession | None = None) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL as its base, 429s retried after Retry-After.

    With a shared `session` its connections are kept alive; without one the SDK opens
    a new aiohttp session (and connection) for every call.
    """
    return _CountedClient(
        token=settings.bot_token,
        base_url=settings.api_url,
        session=session,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            _CountedRateLimits(max_retry_count=3),
        ],
    )


def build_app(
    settings: Settings, gateway: Gateway, client: AsyncWebClient | None = None
) -> AsyncApp:
    app = AsyncApp(
        client=client or web_client(settings),
        signing_secret=settings.signing_secret or "",
        # Listeners only parse, admit and ack (microseconds), then spawn the work: running
        # them inline returns the ack at once instead of after Bolt's 10 ms ack polling.
        process_before_response=True,
        # Socket Mode has no signatures to check; HTTP mode always checks them.
        request_verification_enabled=not settings.socket_mode,
    )

    @app.command("/gateway")
    async def on_gateway(ack: AsyncAck, command: Body, client: AsyncWebClient) -> None:
        arrived = time.perf_counter()
        logs.bind(request=command.get("trigger_id"), channel=command.get("channel_id"))
        request = Request(
            team=command.get("team_id", ""),
            channel=command["channel_id"],
            user=command["user_id"],
            text=command.get("text", ""),
            response_url=command.get("response_url"),
        )
        # A new watch is written before the ack: once Slack has it, a crash loses nothing.
        answer = await gateway.answer_command(SlackChat(client, request.response_url), request)
        await ack(text=answer.text) if answer.text else await ack()
        metrics.ACK_SECONDS.observe(time.perf_counter() - arrived)
        if answer.work is not None:
            gateway.spawn(answer.work, after_acks=answer.after_acks)

    async def on_button(ack: AsyncAck, body: Body, action: Body, client: AsyncWebClient) -> None:
        arrived = time.perf_counter()
        request = _request_from_action(body)
        logs.bind(request=body.get("trigger_id"), channel=request.channel)
        chat = SlackChat(client, request.response_url)
        answer = await gateway.answer_button(
            chat, request, action["action_id"], str(action.get("value") or "")
        )
        await ack()
        metrics.ACK_SECONDS.observe(time.perf_counter() - arrived)
        if answer.work is not None:
            gateway.spawn(answer.work, after_acks=answer.after_acks)
        elif answer.text:
            await chat.ephemeral(request.channel, request.user, notice(answer.text))

    @app.shortcut(SHORTCUT_EXPLAIN)
    async def on_explain_shortcut(ack: AsyncAck, shortcut: Body, client: AsyncWebClient) -> None:
        """ "Explain with gateway" on a message: the answer goes in that message's thread."""
        await ack()
        request = _request_from_action(shortcut)
        message = shortcut.get("message") or {}
        chat = SlackChat(client, request.response_url)
        thread = message.get("thread_ts") or message.get("ts")
        answer = gateway.on_explain(chat, request, message.get("text") or "", thread_ts=thread)
        if answer.work is not None:
            gateway.spawn(answer.work, after_acks=answer.after_acks)
        elif answer.text:
            await chat.ephemeral(request.channel, request.user, notice(answer.text))

    for action_id in VERBS.actions:  # every button of the dispatch table
        app.action(action_id)(on_button)

    _home_listeners(app, gateway)

    @app.error
    async def on_error(error: Exception, body: Body) -> None:
        log.error("unhandled error in a listener: %s", error, exc_info=error)

    return app


def _home_listeners(app: AsyncApp, gateway: Gateway) -> None:
    """The Home tab opened, and the watch modal submitted."""

    @app.event("app_home_opened")
    async def on_home_opened(event: Body, body: Body, client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home":
            return
        answer = gateway.on_home_opened(SlackChat(client), body.get("team_id", ""), event["user"])
        if answer.work is not None:
            gateway.spawn(answer.work)

    @app.view(MODAL_CALLBACK)
    async def on_modal(ack: AsyncAck, body: Body, view: Body, client: AsyncWebClient) -> None:
        user = body.get("user") or {}
        team = (body.get("team") or {}).get("id") or user.get("team_id", "")
        errors, answer = gateway.on_modal(SlackChat(client), team, user.get("id", ""), view)
        if errors:
            await ack(response_action="errors", errors=errors)
            return
        await ack()
        if answer.work is not None:
            gateway.spawn(answer.work)


def _request_from_action(body: dict[str, Any]) -> Request:
    channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
        "channel_id", ""
    )
    return Request(
        team=(body.get("team") or {}).get("id", "") or (body.get("user") or {}).get("team_id", ""),
        channel=channel,
        user=(body.get("user") or {}).get("id", ""),
        response_url=body.get("response_url"),
        trigger_id=body.get("trigger_id"),
    )
