"""Alert delivery: one small interface (`Provider`), one module per channel."""

from bot.alerting.base import DeliveryError, Provider, Threaded, with_retries
from bot.alerting.escalation import Escalations
from bot.alerting.pagerduty import PagerDuty
from bot.alerting.slack import SlackAlerts
from bot.alerting.view import AlertView, dedup_key
from bot.alerting.webhook import Webhook, signature

__all__ = [
    "AlertView",
    "DeliveryError",
    "Escalations",
    "PagerDuty",
    "Provider",
    "SlackAlerts",
    "Threaded",
    "Webhook",
    "dedup_key",
    "signature",
    "with_retries",
]
