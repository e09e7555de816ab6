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
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from checks import dns, guard, http, http2, tcp, tls
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

T = TypeVar("T")
D = TypeVar("D")

DEFAULT_TIMEOUT = 10.0
DEFAULT_SAMPLES = 3
MAX_SAMPLES = 10
VIA = "via"  # the DNS answer's resolver when the address was given, not looked up


@dataclass(frozen=True)
class CheckOptions:
    resolvers: tuple[ResolverAddress, ...] = ()
    allow_private: bool = False
    ca_bundle: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    samples: int = DEFAULT_SAMPLES
    expect: Expectations = field(default_factory=Expectations)  # a watch's conditions
    http2: bool = True  # over HTTPS, also GET once offering h2 by ALPN (checks/http2.py)


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


def split_via(text: str) -> tuple[str, int | None]:
    """`203.0.113.10`, `203.0.113.10:8443`, `[2001:db8::1]:8443` → (address, port or None)."""
    if text.startswith("["):
        address, _, port = text[1:].partition("]:")
        return address.rstrip("]"), int(port) if port else None
    if text.count(":") == 1:
        address, port = text.split(":")
        return address, int(port)
    return text, None


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


async def check_at(
    target: Target, address: str, options: CheckOptions, on_progress: OnProgress = _ignore
) -> Diagnosis:
    """Diagnose `target` asked straight at `address` (an origin): same Host and SNI, no DNS."""
    evidence = await gather(target, options, on_progress, via=address)
    return diagnose(evidence, expect=options.expect)


async def gather(
    target: Target, options: CheckOptions, on_progress: OnProgress = _ignore, via: str | None = None
) -> Evidence:
    """Collect the evidence for `target` within `options.timeout` seconds.

    With `via`, every request goes to that address instead of the name's: the
    address passes the same guard, and redirects to the same host stay on it.
    """
    deadline = _Deadline(options.timeout)
    checked_at = datetime.now(UTC)
    guard.vet_name(target.host, options.allow_private)

    via_port = None
    if via is not None:
        via, via_port = split_via(via)
        dns_result = DnsResult(
            name=target.host, skipped=True, answers=(DnsAnswer(resolver=VIA, addresses=(via,)),)
        )
    elif target.is_ip:
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

    def finish(**found: Any) -> Evidence:
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
    probes.connect_port = via_port
    h2_task = (
        asyncio.create_task(http2.probe(target, addresses[0], deadline.left(), via_port))
        if target.scheme == "https" and options.http2 and http2.worth_probing(target, addresses[0])
        else None
    )
    tcp_results, tls_result, samples = await probes.run()
    plain = await probes.plain_http_fallback(tcp_results)
    if h2_task is not None:
        await _wait_until([h2_task], deadline)
    h2 = _result(h2_task, None)
    return finish(tcp=tcp_results, tls=tls_result, http=samples, plain_http=plain, http2=h2)


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
        self.connect_port: int | None = None  # an origin given as IP:PORT

    @property
    def port(self) -> int:
        """Where connections go: the target's port, or the origin's own."""
        return self.connect_port or self.target.port

    def connect_timeout(self) -> float:
        return self.deadline.share(0.5)

    async def run(self) -> tuple[tuple[TcpAttempt, ...], TlsResult | None, tuple[HttpSample, ...]]:
        """Sample, and let the samples' own connections be the TCP and TLS evidence.

        Each sample's first connection is the TCP probe of its address and, over
        HTTPS, a verifying handshake whose session is the TLS evidence: a healthy
        check opens one connection per sample and nothing else. Addresses no sample
        goes to get a bare TCP connect; a handshake that did not verify is looked
        at again (the certificate read without verifying) and those samples are
        taken again without verifying, so the HTTP evidence is still there.
        """
        count = max(1, min(self.options.samples, MAX_SAMPLES))
        sampled = [self.addresses[i % len(self.addresses)] for i in range(count)]
        unsampled = tuple(a for a in self.addresses if a not in sampled)
        verify = await tls.ready_verifying_context(self.options.ca_bundle) if self._https else None
        tally = _TcpTally(self.addresses, self._tell)
        tcp_task = (
            asyncio.create_task(tcp.connect_all(unsampled, self.port, self.connect_timeout()))
            if unsampled
            else None
        )
        sample_tasks = [
            asyncio.create_task(self._sample(address, verify=verify, on_connect=tally.add))
            for address in sampled
        ]
        if tcp_task:
            tcp_task.add_done_callback(lambda t: tally.add_all(_result(t, ())))
        shown_tls: list[bool] = []
        for number, task in enumerate(sample_tasks, 1):
            self._report(task, lambda s, n=number: _http_progress(s, n, count))
            task.add_done_callback(lambda t: self._sample_done(t, tally, shown_tls))
        await _wait_until([*sample_tasks, *([tcp_task] if tcp_task else [])], self.deadline)

        samples = tuple(
            _result(task, None) or self._timed_out_sample(address)
            for address, task in zip(sampled, sample_tasks, strict=True)
        )
        tcp_results = self._tcp_evidence(samples, _result(tcp_task, ()) or ())
        if not self._https:
            return tcp_results, None, samples
        tls_result, samples = await self._tls_evidence(samples, tcp_results)
        return tcp_results, tls_result, samples

    def _sample_done(
        self, task: asyncio.Task[HttpSample], tally: _TcpTally, shown_tls: list[bool]
    ) -> None:
        sample = _result(task, None)
        if sample is None:
            return
        if sample.first_connect is not None:
            tally.add(sample.first_connect)
        if sample.tls is not None and not shown_tls:
            shown_tls.append(True)
            self._tell(_tls_progress(sample.tls))

    def _tell(self, progress: Progress) -> None:
        try:
            self.on_progress(progress)
        except Exception:  # a progress display must never break the check
            log.exception("progress callback failed")

    def _tcp_evidence(
        self, samples: tuple[HttpSample, ...], connects: tuple[TcpAttempt, ...]
    ) -> tuple[TcpAttempt, ...]:
        """One TCP attempt per address: a sample's connection where one went, else a connect."""
        found: dict[str, TcpAttempt] = {a.address: a for a in connects}
        for sample in samples:
            attempt = sample.first_connect
            if attempt is None:
                continue
            known = found.get(attempt.address)
            if known is None or (attempt.ok and not known.ok):
                found[attempt.address] = attempt
        timed_out = {a.address: a for a in self._timed_out_tcp()}
        return tuple(found.get(address) or timed_out[address] for address in self.addresses)

    async def _tls_evidence(
        self, samples: tuple[HttpSample, ...], attempts: tuple[TcpAttempt, ...]
    ) -> tuple[TlsResult | None, tuple[HttpSample, ...]]:
        verified = [s.tls for s in samples if s.tls is not None]
        if verified:
            first = next((t for t in verified if t.address == self.addresses[0]), verified[0])
            return first, samples
        reachable = [a.address for a in attempts if a.ok]
        if not reachable or self.deadline.left() <= 0:
            return None, samples
        again = [
            i
            for i, s in enumerate(samples)
            if s.error in _TLS_ERRORS and s.first_connect is not None and s.first_connect.ok
        ]
        tls_task = asyncio.create_task(self._tls(reachable[0]))
        self._report(tls_task, _tls_progress)
        retries = {i: asyncio.create_task(self._sample(samples[i].address)) for i in again}
        await _wait_until([tls_task, *retries.values()], self.deadline)
        redone = list(samples)
        for i, task in retries.items():
            redone[i] = _result(task, None) or redone[i]
        return _result(tls_task, None), tuple(redone)

    def _report(self, task: asyncio.Task[Any], describe: Callable[..., Progress]) -> None:
        def done(finished: asyncio.Task[Any]) -> None:
            if finished.cancelled() or finished.exception() is not None:
                return
            self._tell(describe(finished.result()))

        task.add_done_callback(done)

    @property
    def _https(self) -> bool:
        return self.target.scheme == "https"

    async def _tls(self, address: str) -> TlsResult:
        return await tls.handshake(
            address,
            self.port,
            self.target.host,
            self.connect_timeout(),
            self.options.ca_bundle,
        )

    async def _sample(
        self,
        address: str,
        url: str | None = None,
        verify: ssl.SSLContext | None = None,
        on_connect: http.OnConnect | None = None,
    ) -> HttpSample:
        return await http.fetch(
            url or self.target.url,
            address,
            timeout=self.deadline.left(),
            connect_timeout=self.connect_timeout(),
            address_for=self._address_for,
            verify=verify,
            on_connect=on_connect,
            connect_port=self.connect_port if url is None else None,
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
            raise ValueError(f"its host {host} does not resolve ({result.error})")
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
                port=self.port,
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


_TLS_ERRORS = {
    ErrorKind.TLS_HANDSHAKE,
    ErrorKind.TLS_EXPIRED,
    ErrorKind.TLS_NOT_YET_VALID,
    ErrorKind.TLS_HOSTNAME,
    ErrorKind.TLS_UNTRUSTED,
}


class _TcpTally:
    """Says "TCP n/m open" once every address's connection has an outcome."""

    def __init__(self, addresses: tuple[str, ...], tell: OnProgress) -> None:
        self._addresses = set(addresses)
        self._seen: dict[str, TcpAttempt] = {}
        self._tell = tell
        self._told = False

    def add(self, attempt: TcpAttempt) -> None:
        known = self._seen.get(attempt.address)
        if known is None or (attempt.ok and not known.ok):
            self._seen[attempt.address] = attempt
        if not self._told and self._addresses <= self._seen.keys():
            self._told = True
            self._tell(_tcp_progress(tuple(self._seen.values())))

    def add_all(self, attempts: tuple[TcpAttempt, ...]) -> None:
        for attempt in attempts:
            self.add(attempt)


async def _wait_until(tasks: list[asyncio.Task[Any]], deadline: _Deadline) -> None:
    """Wait for the tasks until the deadline; cancel the stragglers and let them unwind."""
    # Probes stop themselves at deadline.left(); this guard waits a little longer so
    # that they report their own timings, yet still ends inside the margin.
    _done, pending = await asyncio.wait(tasks, timeout=deadline.left() + deadline.margin / 2)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.wait(pending, timeout=0.05)


def _result(task: asyncio.Task[T] | None, default: D) -> T | D:
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
