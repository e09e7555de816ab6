"""Whether Slack has answered yet: `auth.test` at start, then with backoff until it does.

A token Slack refuses stops the bot at start in one line. A Slack that cannot be
reached (a network not up yet, a wrong SLACK_API_URL) is not an error to stop
for: the bot keeps asking, one log line per attempt with growing pauses, and
/readyz says "not ready" with the reason until Slack answers. A URL that answers
but not as Slack's Web API does (a 404 page, JSON without `ok`) is named as such,
never as "Slack refused SLACK_BOT_TOKEN: None".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.startup import StartError

log = logging.getLogger("gateway")

FIRST_PAUSE = 1.0  # seconds before the second attempt; doubles up to MAX_PAUSE
MAX_PAUSE = 60.0
UNREACHABLE = (aiohttp.ClientError, TimeoutError, OSError)
Call = Callable[[], Awaitable[object]]


class SlackReady:
    """Set once Slack has answered `auth.test` with ok; `reason` says why not until then."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url
        self.answered = asyncio.Event()
        self.reason = f"Slack at {api_url} has not answered auth.test yet"
        self._task: asyncio.Task[None] | None = None

    async def first(self, name: str, call: Call) -> bool:
        """One attempt: True when Slack answered; StartError when it refused; False when
        it could not be reached (logged in one line)."""
        try:
            await call()
        except SlackApiError as exc:
            raise StartError(refusal(name, exc, self.api_url)) from None
        except UNREACHABLE as exc:
            self.reason = f"cannot reach Slack at {self.api_url} ({_kind(exc)})"
            return False
        return True

    def keep_asking(self, call: Call, pause: float = FIRST_PAUSE) -> None:
        """Ask again in the background, backing off, until Slack answers."""
        self._task = asyncio.get_running_loop().create_task(self._forever(call, pause))

    async def _forever(self, call: Call, pause: float) -> None:
        while True:
            log.warning("%s; trying again in %.0f s", self.reason, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_PAUSE)
            try:
                await call()
            except SlackApiError as exc:
                self.reason = refusal("SLACK_BOT_TOKEN", exc, self.api_url)
                log.error("%s", self.reason)
                return
            except UNREACHABLE as exc:
                self.reason = f"cannot reach Slack at {self.api_url} ({_kind(exc)})"
                continue
            log.info("Slack at %s answered", self.api_url)
            self.answered.set()
            return

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def refusal(name: str, exc: SlackApiError, api_url: str) -> str:
    """What to tell the operator when auth.test (or apps.connections.open) said no."""
    response = exc.response
    error = response.get("error") if response is not None else None
    if isinstance(error, str) and error:
        return f"Slack refused {name}: {error}"
    status = getattr(response, "status_code", None)
    return (
        f"SLACK_API_URL={api_url} did not answer like Slack's Web API (HTTP {status}, "
        "no Slack error in the answer); set it to https://slack.com/api/ or unset it"
    )


def _kind(exc: BaseException) -> str:
    return type(exc).__name__
