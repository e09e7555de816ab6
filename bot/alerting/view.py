"""An incident as every delivery sees it: the render-neutral `AlertView`, and its identity.

The watch service gathers the view (bot/watch/incidents.py); each provider (Slack,
PagerDuty, the webhook) delivers it in its own words. The dedup key is the
incident's identity outside Slack: a re-sent trigger is the same incident there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class AlertView:
    """Everything an alert shows, gathered by the watch service."""

    watch_id: int
    incident_id: int
    host: str
    url: str
    state: str  # down | recovering | resolved
    verdict: str  # down | degraded (from the last diagnosis)
    summary: str
    cause: str
    gateway: str | None
    http_statuses: tuple[int | None, ...]
    excerpt: str
    failing_since: datetime
    last_check_at: datetime
    failure_count: int
    acknowledged_by: str | None = None
    muted_until: datetime | None = None
    healthy_checks: int = 0
    healthy_needed: int = 2
    resolved_at: datetime | None = None
    flaps: int = 0
    channel: str = ""
    notify: tuple[str, ...] = ()  # Slack IDs, mentioned when it opens, is reminded, recovers
    muted_by: str | None = None
    mute_reason: str | None = None
    escalated_to: tuple[str, ...] = ()  # provider names, once escalated


def dedup_key(alert: AlertView) -> str:
    """The incident's identity for PagerDuty and the webhook (stable across restarts)."""
    return f"gateway-incident-{alert.incident_id}"
