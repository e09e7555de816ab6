"""A watch's settings as one value: what the person asked for, and nothing else.

The `/gateway watch` command parses into a `WatchSpec`, the modal reads back into
one, the store writes and reads one, and every view (the confirmation, the list,
an alert, the Home tab, the modal's prefill) reads one. A new option is a field
here, its words in the parser, its column in the store and its line in a view.
Pure and frozen; `to_dict`/`from_dict` for whatever stores or sends it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from checks.expect import Expectations
from checks.models import Target
from checks.target import parse_target


@dataclass(frozen=True)
class WatchSpec:
    target: Target
    interval: float | None = None  # seconds between checks; None: the default, until stored
    after: int | None = None  # failed checks in a row before an alert; None: the default
    expect: Expectations = field(default_factory=Expectations)
    notify: tuple[str, ...] = ()  # Slack IDs: S… user groups, U…/W… people

    @property
    def url(self) -> str:
        return self.target.url

    @property
    def interval_s(self) -> float:
        """The interval of a stored spec (its default filled in)."""
        assert self.interval is not None, "a stored watch has its interval"
        return self.interval

    @property
    def fail_after(self) -> int:
        """The `after` of a stored spec (its default filled in)."""
        assert self.after is not None, "a stored watch has its `after`"
        return self.after

    def filled(self, interval: float, after: int) -> WatchSpec:
        """The spec with the defaults for what the person left out."""
        return replace(self, interval=self.interval or interval, after=self.after or after)

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.target.url,
            "input": self.target.input,
            "interval": self.interval,
            "after": self.after,
            "expect": self.expect.to_dict(),
            "notify": list(self.notify),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WatchSpec:
        """The spec `to_dict` wrote; ValueError (or TypeError) when it is not one."""
        target = parse_target(str(data["url"]))
        target = replace(target, input=str(data.get("input") or target.input))
        interval, after = data.get("interval"), data.get("after")
        return cls(
            target=target,
            interval=float(interval) if interval is not None else None,
            after=int(after) if after is not None else None,
            expect=Expectations.from_dict(data.get("expect")),
            notify=tuple(str(i) for i in data.get("notify") or ()),
        )
