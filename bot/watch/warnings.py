"""Warnings that are not incidents: a certificate that expires soon, and the bot's own
network trouble (alerts held, said once per channel) and its end."""

from __future__ import annotations

from bot.render import alerts
from bot.watch.core import Watched, ignore
from bot.watch.model import WatchInfo
from bot.watch.records import WatchUpdate
from bot.watch.selfcheck import NETWORK_CAUSES, SelfCheck
from checks.diagnose import Diagnosis
from checks.guard import TargetRefused
from checks.target import TargetError, parse_target

CERT_WARNING_DAYS = 14


class Warnings:
    def __init__(self, core: Watched) -> None:
        self.core = core
        canary = self._canary if core.settings.canary else None
        self.selfcheck = SelfCheck(core.settings.check.resolvers, canary)
        self._trouble_told: set[str] = set()

    async def _canary(self) -> bool:
        core = self.core
        try:
            target = parse_target(core.settings.canary or "")
            result = await core.check_function(target, core.light, ignore)
        except (TargetRefused, TargetError):
            return False
        return result.cause.code not in NETWORK_CAUSES

    async def certificate(self, info: WatchInfo, diagnosis: Diagnosis) -> None:
        """Say once per certificate, in the watch's channel, that it expires within 14 days."""
        core = self.core
        tls = diagnosis.evidence.tls
        certificate = tls.certificate if tls is not None and tls.ok else None
        if certificate is None or core.incidents.muted(info):
            return
        days = certificate.days_left(core.clock())
        key = f"{certificate.subject}|{certificate.not_after.isoformat()}"[:600]
        if days >= CERT_WARNING_DAYS or info.cert_warned == key:
            return
        info.cert_warned = key
        await core.store.update_watch(info.id, WatchUpdate(cert_warned=key))
        await core.incidents.say(
            core.chat,
            info.channel,
            alerts.cert_warning(
                parse_target(info.url).host, days, certificate.not_after, certificate.subject
            ),
        )

    async def network_ok(self) -> bool:
        return await self.selfcheck.network_ok()

    async def trouble(self, channel: str) -> None:
        """An alert held because the bot's own network fails: said once per channel."""
        if channel in self._trouble_told:
            return
        self._trouble_told.add(channel)
        core = self.core
        await core.incidents.say(core.chat, channel, alerts.note(alerts.NETWORK_TROUBLE))

    async def network_back(self) -> None:
        """The channels told of trouble hear that it is over, once the network answers."""
        if not self._trouble_told:
            return
        self.selfcheck.forget()
        if not await self.selfcheck.network_ok():
            return
        told, self._trouble_told = self._trouble_told, set()
        core = self.core
        for channel in sorted(told):
            await core.incidents.say(core.chat, channel, alerts.note(alerts.NETWORK_BACK))
