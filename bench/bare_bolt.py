"""The peer for the ack benchmark: a bare Bolt `AsyncApp` whose `/gateway` only acks.

Run as its own process (`python bench/bare_bolt.py PORT`), configured as
`gateway serve` is in HTTP mode (the same signing secret, the Web API pointed
at the Slack stand-in, `process_before_response`), so the difference between
the two is what the bot does before and around its ack. It runs on uvloop, as
`gateway serve` does, so the loop is not what the comparison measures.
"""

from __future__ import annotations

import os
import sys

import uvloop
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient


def main() -> None:
    uvloop.install()
    port = int(sys.argv[1])
    client = AsyncWebClient(
        token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
    )
    app = AsyncApp(
        client=client,
        signing_secret=os.environ["SLACK_SIGNING_SECRET"],
        process_before_response=True,
    )

    @app.command("/gateway")
    async def on_gateway(ack) -> None:
        await ack()

    app.start(port=port, path="/slack/events", host="127.0.0.1")


if __name__ == "__main__":
    main()
