"""Wrapping with a hanging indent: a long item keeps its margin on every line.

Rich wraps a `Text` at the console's width but starts the continuation lines at
column 0, which breaks a numbered step or a thread's `│` margin apart. `Hanging`
wraps to the width left after the margin and puts the margin (the first line's
prefix, then the continuation's) before every line, keeping the text's styles.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text


@dataclass(frozen=True)
class Hanging:
    """`text` after `first` on its first line and after `rest` on the others."""

    text: Text
    first: str
    rest: str

    def lines(self, width: int) -> list[Text]:
        room = max(10, width - max(len(self.first), len(self.rest)))
        wrapped = self.text.wrap(_MEASURE, room) if self.text.plain else [Text()]
        out = []
        for number, line in enumerate(wrapped):
            line.rstrip()
            prefix = self.first if number == 0 else self.rest
            out.append(Text(prefix, style=self.text.style).append_text(line))
        return out

    def height(self, width: int) -> int:
        return len(self.lines(width))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for line in self.lines(options.max_width):
            line.no_wrap = True
            line.overflow = "crop"
            yield line


_MEASURE = Console(width=10_000, highlight=False)  # Text.wrap measures cells with it


def hanging(text: Text, first: str, rest: str | None = None) -> Hanging:
    """`text` indented by `first`, continuation lines by `rest` (default: as `first`)."""
    return Hanging(text, first, first if rest is None else rest)
