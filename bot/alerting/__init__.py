"""Alert delivery: one small interface (`Provider`), one module per channel."""

from bot.alerting.base import DeliveryError, Provider, with_retries
from bot.alerting.escalation import Escalations
from bot.alerting.pagerduty import PagerDuty
from bot.alerting.slack import SlackAlerts
from bot.alerting.webhook import Webhook, signature

__all__ = [
    "DeliveryError",
    "Escalations",
    "PagerDuty",
    "Provider",
    "SlackAlerts",
    "Webhook",
    "signature",
    "with_retries",
]
