"""Run the probes concurrently under one deadline and diagnose what they saw.

DNS comes first (everything needs an address); then TCP to every address,
the TLS handshake and the HTTP samples start together, so a check takes about
DNS plus its slowest probe. Every probe gets what is left of the deadline, and
a last guard cancels whatever still runs when it passes: the check answers in
time, with what it knows.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from checks import dns, guard, http, tcp, tls
from checks.diagnose import Diagnosis, diagnose
from checks.dns import ResolverAddress
from checks.expect import Expectations
from checks.models import (
    DnsAnswer,
    DnsResult,
    ErrorKind,
    Evidence,
    HttpSample,
    PortProbe,
    Progress,
    Target,
    TcpAttempt,
    TlsResult,
    build_url,
)
from checks.target import parse_target

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0
DEFAULT_SAMPLES = 3
MAX_SAMPLES = 10


@dataclass(frozen=True)
class CheckOptions:
    resolvers: tuple[ResolverAddress, ...] = ()
    allow_private: bool = False
    ca_bundle: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    samples: int = DEFAULT_SAMPLES
    expect: Expectations = field(default_factory=Expectations)  # a watch's conditions


@dataclass
class _Deadline:
    """Seconds left until the check must answer, keeping a margin to write the answer."""

    total: float
    started: float = field(default_factory=time.perf_counter)

    @property
    def margin(self) -> float:
        return min(0.15, self.total * 0.03)

    def left(self) -> float:
        return max(0.0, self.total - self.margin - (time.perf_counter() - self.started))

    def share(self, fraction: float, floor: float = 0.2) -> float:
        """A slice of the whole budget for one phase, never more than what is left."""
        return min(self.left(), max(floor, self.total * fraction))


OnProgress = Callable[[Progress], None]
CheckFunction = Callable[["str | Target", "CheckOptions", OnProgress], Awaitable[Diagnosis]]


def _ignore(_: Progress) -> None:
    return None


async def check(
    text: str | Target, options: CheckOptions | None = None, on_progress: OnProgress = _ignore
) -> Diagnosis:
    """Diagnose a target. Raises TargetError or TargetRefused for unusable input.

    `on_progress` is called (synchronously, so it must not block) as each probe ends.
    """
    options = options or CheckOptions()
    target = parse_target(text) if isinstance(text, str) else text
    evidence = await gather(target, options, on_progress)
    return diagnose(evidence, expect=options.expect)


async def gather(
    target: Target, options: CheckOptions, on_progress: OnProgress = _ignore
) -> Evidence:
    """Collect the evidence for `target` within `options.timeout` seconds."""
    deadline = _Deadline(options.timeout)
    checked_at = datetime.now(UTC)
    guard.vet_name(target.host, options.allow_private)

    if target.is_ip:
        dns_result = DnsResult(
            name=target.host,
            skipped=True,
            answers=(DnsAnswer(resolver="literal", addresses=(target.host,)),),
        )
    else:
        dns_result = await dns.resolve(target.host, options.resolvers, deadline.share(0.5))
        on_progress(_dns_progress(dns_result))
    addresses = dns_result.addresses[: tcp.MAX_ADDRESSES]
    guard.vet_addresses(target.host, addresses, options.allow_private)

    def finish(**found) -> Evidence:
        elapsed = (time.perf_counter() - deadline.started) * 1000
        return Evidence(
            target=target,
            dns=dns_result,
            checked_at=checked_at,
            duration_ms=elapsed,
            timeout_s=options.timeout,
            deadline_hit=deadline.left() <= 0,
            **found,
        )

    if not addresses:
        return finish()
    probes = _Probes(target, options, deadline, addresses, on_progress)
    tcp_results, tls_result, samples = await probes.run()
    plain = await probes.plain_http_fallback(tcp_results)
    return finish(tcp=tcp_results, tls=tls_result, http=samples, plain_http=plain)


class _Probes:
    """The connection-level probes of one check, sharing its deadline and addresses."""

    def __init__(
        self,
        target: Target,
        options: CheckOptions,
        deadline: _Deadline,
        addresses: tuple[str, ...],
        on_progress: OnProgress,
    ) -> None:
        self.on_progress = on_progress
        self.target = target
        self.options = options
        self.deadline = deadline
        self.addresses = addresses

    def connect_timeout(self) -> float:
        return self.deadline.share(0.5)

    async def run(self) -> tuple[tuple[TcpAttempt, ...], TlsResult | None, tuple[HttpSample, ...]]:
        count = max(1, min(self.options.samples, MAX_SAMPLES))
        tcp_task = asyncio.create_task(
            tcp.connect_all(self.addresses, self.target.port, self.connect_timeout())
        )
        tls_task = asyncio.create_task(self._tls(self.addresses[0])) if self._https else None
        sample_tasks = [
            asyncio.create_task(self._sample(self.addresses[i % len(self.addresses)]))
            for i in range(count)
        ]
        tasks = [tcp_task, *sample_tasks] + ([tls_task] if tls_task else [])
        self._report(tcp_task, _tcp_progress)
        if tls_task:
            self._report(tls_task, _tls_progress)
        for number, task in enumerate(sample_tasks, 1):
            self._report(task, lambda s, n=number: _http_progress(s, n, count))
        await _wait_until(tasks, self.deadline)

        tcp_results = _result(tcp_task, ()) or self._timed_out_tcp()
        tls_result = _result(tls_task, None) if tls_task else None
        tls_result = await self._retry_tls_elsewhere(tls_result, tcp_results)
        samples = tuple(
            _result(task, None) or self._timed_out_sample(self.addresses[i % len(self.addresses)])
            for i, task in enumerate(sample_tasks)
        )
        return tcp_results, tls_result, samples

    def _report(self, task: asyncio.Task, describe: Callable[..., Progress]) -> None:
        def done(finished: asyncio.Task) -> None:
            if finished.cancelled() or finished.exception() is not None:
                return
            try:
                self.on_progress(describe(finished.result()))
            except Exception:  # a progress display must never break the check
                log.exception("progress callback failed")

        task.add_done_callback(done)

    @property
    def _https(self) -> bool:
        return self.target.scheme == "https"

    async def _tls(self, address: str) -> TlsResult:
        return await tls.handshake(
            address,
            self.target.port,
            self.target.host,
            self.connect_timeout(),
            self.options.ca_bundle,
        )

    async def _retry_tls_elsewhere(
        self, first: TlsResult | None, attempts: tuple[TcpAttempt, ...]
    ) -> TlsResult | None:
        """If the first address was down, shake hands with one that accepted TCP."""
        if first is None or first.error not in (
            ErrorKind.REFUSED,
            ErrorKind.TIMEOUT,
            ErrorKind.UNREACHABLE,
            ErrorKind.NO_ROUTE,
        ):
            return first
        reachable = [a.address for a in attempts if a.ok and a.address != first.address]
        if not reachable or self.deadline.left() <= 0:
            return None if first.error else first
        try:
            async with asyncio.timeout(self.deadline.left()):
                return await self._tls(reachable[0])
        except TimeoutError:
            return None

    async def _sample(self, address: str, url: str | None = None) -> HttpSample:
        url = url or self.target.url
        return await http.fetch(
            url,
            address,
            timeout=self.deadline.left(),
            connect_timeout=self.connect_timeout(),
            address_for=self._address_for,
        )

    async def _address_for(self, host: str) -> str:
        """Resolve and vet a redirect's host, as the first lookup was."""
        guard.vet_name(host, self.options.allow_private)
        try:
            ipaddress.ip_address(host)
            addresses: tuple[str, ...] = (host,)
        except ValueError:
            result = await dns.resolve(host, self.options.resolvers, self.deadline.share(0.2))
            addresses = result.addresses
        if not addresses:
            raise ValueError(f"the redirect's host {host} does not resolve")
        guard.vet_addresses(host, addresses, self.options.allow_private)
        return addresses[0]

    async def plain_http_fallback(self, attempts: tuple[TcpAttempt, ...]) -> PortProbe | None:
        """For a bare name whose HTTPS port is closed everywhere, look at port 80."""
        target = self.target
        if (
            target.explicit_scheme
            or target.explicit_port
            or not attempts
            or any(a.ok for a in attempts)
            or self.deadline.left() < 0.2
        ):
            return None
        url = build_url("http", target.host, 80, target.path)
        try:
            async with asyncio.timeout(self.deadline.left()):
                sample = await self._sample(self.addresses[0], url)
        except TimeoutError:
            return None
        return PortProbe(port=80, sample=sample)

    def _timed_out_tcp(self) -> tuple[TcpAttempt, ...]:
        return tuple(
            TcpAttempt(
                address=a,
                port=self.target.port,
                error=ErrorKind.TIMEOUT,
                detail="no answer before the check's deadline",
            )
            for a in self.addresses
        )

    def _timed_out_sample(self, address: str) -> HttpSample:
        return HttpSample(
            address=address,
            url=self.target.url,
            error=ErrorKind.NO_RESPONSE,
            detail="no response before the check's deadline",
        )


async def _wait_until(tasks: list[asyncio.Task], deadline: _Deadline) -> None:
    """Wait for the tasks until the deadline; cancel the stragglers and let them unwind."""
    # Probes stop themselves at deadline.left(); this guard waits a little longer so
    # that they report their own timings, yet still ends inside the margin.
    _done, pending = await asyncio.wait(tasks, timeout=deadline.left() + deadline.margin / 2)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=0.05)


def _result(task: asyncio.Task | None, default):
    """A finished task's result; a probe that crashed is logged, never fatal to the check."""
    if task is None or not task.done() or task.cancelled():
        return default
    if task.exception() is not None:
        log.error("probe failed", exc_info=task.exception())
        return default
    return task.result()


def _dns_progress(result: DnsResult) -> Progress:
    if result.addresses:
        return Progress(
            "dns",
            not result.mismatch,
            f"DNS {len(result.addresses)} address(es) in {result.ms:.0f} ms",
        )
    return Progress("dns", False, f"DNS {result.error}")


def _tcp_progress(attempts: tuple[TcpAttempt, ...]) -> Progress:
    ok = sum(a.ok for a in attempts)
    fastest = min((a.ms for a in attempts if a.ok), default=None)
    text = f"TCP {ok}/{len(attempts)} open" + (f" in {fastest:.0f} ms" if fastest else "")
    return Progress("tcp", ok == len(attempts), text)


def _tls_progress(result: TlsResult) -> Progress:
    if result.ok:
        return Progress("tls", True, f"TLS {result.version or 'ok'} in {result.ms:.0f} ms")
    return Progress("tls", False, f"TLS {result.error}")


def _http_progress(sample: HttpSample, number: int, count: int) -> Progress:
    what = str(sample.status) if sample.status is not None else str(sample.error)
    return Progress("http", sample.ok and sample.error is None, f"HTTP {what} ({number}/{count})")
