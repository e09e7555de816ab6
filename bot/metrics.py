"""The bot's own numbers, for Prometheus (`GET /metrics`): names prefixed `gateway_`,
labels bounded (a check's result and cause come from fixed vocabularies, Slack methods
from Slack's; never a URL, a channel or a person).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

CHECKS = Counter(
    "gateway_checks", "Scheduled checks of watched sites, by result and cause", ["result", "cause"]
)
CHECK_SECONDS = Histogram(
    "gateway_check_duration_seconds",
    "How long a scheduled check took",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
SCHEDULER_LAG = Histogram(
    "gateway_scheduler_lag_seconds",
    "How late a check started after its scheduled time",
    buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 2, 5, 10, 30, 60),
)
WATCHES = Gauge("gateway_watches", "Watches this replica schedules (those of its shards)")
WATCHES_STORED = Gauge("gateway_watches_stored", "Watches in the database, fleet-wide")
OPEN_INCIDENTS = Gauge("gateway_open_incidents", "Incidents not yet resolved, fleet-wide")
SLACK_CALLS = Counter(
    "gateway_slack_api_calls",
    "Slack Web API calls by method and outcome (ok, error, unreachable)",
    ["method", "outcome"],
)
SLACK_RATE_LIMITED = Counter(
    "gateway_slack_rate_limited", "Slack answers of 429 Too Many Requests, by method", ["method"]
)
ACK_SECONDS = Histogram(
    "gateway_ack_seconds",
    "From a command or click arriving to its acknowledgement",
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5),
)
LEADER = Gauge("gateway_leader", "1 on the one replica doing the fleet's chores (history pruning)")
SHARDS_OWNED = Gauge("gateway_shards_owned", "Shards of the watches this replica checks (of 64)")
REPLICA = Info("gateway_replica", "This replica's name (host:pid)")
AGENT_LAST_SEEN = Gauge(
    "gateway_agent_last_seen_seconds",
    "Seconds since each enrolled agent last polled (-1: never)",
    ["agent"],
)
