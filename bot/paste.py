"""Several pasted lines, one `/gateway explain`: how the shell knows where a paste ends.

A terminal hands the shell one line at a time, so log lines pasted after
`/gateway explain` would each be a command of their own. The shell collects
them instead: up to an empty line, or, when the paste opens with a ``` fence,
up to the closing fence (so a paste may hold empty lines), or to the end of input.
Pure: lines in, one command text out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

COMMAND = "/gateway explain"
FENCE = "```"
MAX_LINES = 20_000  # the explanation reads at most 1 MiB anyway


def starts_paste(line: str) -> bool:
    """`/gateway explain` alone or followed by text: the lines after it belong to it."""
    stripped = line.strip()
    return stripped == COMMAND or stripped.startswith(COMMAND + " ")


@dataclass
class Paste:
    """Fed line by line after `/gateway explain`; `done` once the paste has ended."""

    first: str
    lines: list[str] = field(default_factory=list)
    fenced: bool = False
    done: bool = False

    def __post_init__(self) -> None:
        rest = self.first.strip()[len(COMMAND) :].strip()
        if rest.startswith(FENCE):
            self.fenced = True
            rest = rest[len(FENCE) :]
            if rest.rstrip().endswith(FENCE):  # ```one line``` on the command line
                self.lines.append(rest.rstrip()[: -len(FENCE)])
                self.done = True
                return
        if rest.strip():
            self.lines.append(rest)

    def feed(self, line: str) -> None:
        line = line.rstrip("\r\n")
        if self.fenced:
            if line.rstrip().endswith(FENCE):
                self.lines.append(line.rstrip()[: -len(FENCE)])
                self.done = True
                return
            self.lines.append(line)
        elif not line.strip():
            self.done = True
        else:
            self.lines.append(line)
        if len(self.lines) >= MAX_LINES:
            self.done = True

    @property
    def text(self) -> str:
        """The command as the shell hands it on: `/gateway explain` and the lines."""
        body = "\n".join(line for line in self.lines if line.strip() or self.fenced).strip("\n")
        return f"{COMMAND} {body}" if body else COMMAND
