"""The Home tab once watches span many channels: Slack refuses a Home view of over 100
blocks, and the tab then breaks for everyone. It stays within them and says how many
more there are."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.render.home import HomeWatch, home_view
from bot.spec import WatchSpec
from checks.target import parse_target
from tests.slack.stand_in import validate_blocks

NOW = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)


def watches(count: int, channels: int) -> list[HomeWatch]:
    return [
        HomeWatch(
            id=i,
            channel=f"C{i % channels:04d}",
            spec=WatchSpec(parse_target(f"site{i}.example"), interval=300, after=2),
            state="down" if i % 3 else "healthy",
            last_checked_at=NOW,
            availability=0.99,
            strip=(1.0,) * 24,
            incident_summary="nginx answered 502" if i % 3 else None,
            incident_since=NOW if i % 3 else None,
        )
        for i in range(count)
    ]


@pytest.mark.parametrize(("count", "channels"), [(25, 25), (30, 30), (60, 40), (500, 1)])
def test_the_home_view_stays_within_100_blocks_and_says_how_many_more(count, channels):
    view = home_view(watches(count, channels))
    assert validate_blocks(view["blocks"], most=100) == []
    shown = sum(1 for b in view["blocks"] if b["type"] == "actions")
    if shown < count:
        assert f"…and {count - shown} more" in str(view["blocks"][-1])
