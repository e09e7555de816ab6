"""`gateway shell`: the bot on a terminal chat, no Slack workspace needed.

Like the shell adapters of the classic chat-bot frameworks: a person types
`/gateway check site.com` and sees the messages the bot would post, their
edits, the thread and the buttons (press one with `/click N`). The bot behind
it is the same `Gateway` the Slack app drives; only the `Chat` differs.

Slack's mrkdwn is shown as formatting (bold, italic, code, strike) through rich
`Text` spans, never as markup rich would interpret, so remote text stays literal.
An edit of the last message on a terminal is redrawn in place; elsewhere it is
printed again, and either way its buttons keep their numbers.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.text import Text

from bot.chat import CannotLook
from bot.render.slack import Message
from bot.service import Gateway, Request
from checks.text import printable

CHANNEL, USER, TEAM = "CSHELL", "you", "TSHELL"
_MENTION = re.compile(r"<@([A-Z0-9a-z]+)(?:\|([^>]*))?>")
_GROUP = re.compile(r"<!subteam\^([A-Z0-9a-z]+)(?:\|([^>]*))?>")
_DATE = re.compile(r"<!date\^\d+\^[^|>]*\|([^>]*)>")
_CHANNEL = re.compile(r"<#([A-Z0-9a-z]+)(?:\|([^>]*))?>")
_MARKUP = re.compile(
    r"```(?P<pre>.+?)```"
    r"|`(?P<code>[^`\n]+)`"
    r"|(?<![\w*])\*(?P<bold>[^*\n]+)\*(?![\w*])"
    r"|(?<![\w_])_(?P<italic>[^_\n]+)_(?![\w_])"
    r"|(?<![\w~])~(?P<strike>[^~\n]+)~(?![\w~])",
    re.DOTALL,
)
_STYLES = {
    "pre": "cyan",
    "code": "bold cyan",
    "bold": "bold",
    "italic": "italic",
    "strike": "strike",
}
_EMOJI = {
    ":white_check_mark:": "✅",
    ":x:": "❌",
    ":heavy_minus_sign:": "➖",
    ":red_circle:": "🔴",
    ":warning:": "⚠️",
    ":hourglass_flowing_sand:": "⏳",
    ":hourglass:": "⌛",
    ":no_entry:": "⛔",
    ":thinking_face:": "🤔",
    ":eyes:": "👀",
    ":rotating_light:": "🚨",
    ":large_green_circle:": "🟢",
    ":large_yellow_circle:": "🟡",
    ":white_circle:": "⚪",
    ":lock:": "🔒",
    ":satellite_antenna:": "📡",
    ":wave:": "👋",
    ":mute:": "🔇",
    ":repeat:": "🔁",
    ":arrows_counterclockwise:": "🔄",
    ":bell:": "🔔",
    ":pager:": "📟",
}

BANNER = """\
gateway shell: the bot as it answers in Slack, here in the terminal.
Type `/gateway check example.com` (or `/gateway help`); `/click N` presses button N;
`/quit` or Ctrl-D leaves. Sites on this machine and private networks are allowed here
(GATEWAY_ALLOW_PRIVATE=0 refuses them, as the Slack bot does by default)."""


@dataclass
class _Shown:
    number: int
    channel: str
    message: Message
    thread_ts: str | None


@dataclass
class ShellChat:
    """A Chat that prints to a terminal; buttons are remembered for `/click`."""

    console: Console
    _counter: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    messages: dict[str, _Shown] = field(default_factory=dict)
    buttons: list[tuple[str, str, str]] = field(default_factory=list)  # action, value, ts
    _slots: dict[str, list[int]] = field(default_factory=dict)  # ts -> its buttons' indexes
    _last: tuple[str, int] | None = None  # the last message printed: ts, lines it took

    async def post(
        self, channel: str, message: Message, thread_ts: str | None = None, broadcast: bool = False
    ) -> str | None:
        number = next(self._counter)
        ts = f"{number}.000000"
        self.messages[ts] = _Shown(number, channel, message, thread_ts)
        if thread_ts:
            parent = self.messages.get(thread_ts)
            label = f"in the thread of #{parent.number}" if parent else "in a thread"
            self._show(f"#{number} gateway ({label})", message, indent="  │ ", ts=ts)
        else:
            self._show(f"#{number} gateway", message, ts=ts)
        return ts

    async def update(self, channel: str, ts: str, message: Message) -> bool:
        shown = self.messages.get(ts)
        if shown is None:
            return False
        shown.message = message
        if self.console.is_terminal and self._last is not None and self._last[0] == ts:
            # Redraw in place: up to the message's first line, clear below, print it anew.
            self.console.file.write(f"\x1b[{self._last[1]}F\x1b[J")
            self.console.file.flush()
        indent = "  │ " if shown.thread_ts else ""
        self._show(f"#{shown.number} gateway (edited)", message, indent=indent, ts=ts)
        return True

    async def ephemeral(self, channel: str, user: str, message: Message) -> None:
        self._show("gateway (only you can see this)", message)

    async def respond(self, message: Message, in_channel: bool) -> bool:
        self._show("gateway" if in_channel else "gateway (only you can see this)", message)
        return True

    async def publish_home(self, user: str, view: dict[str, Any]) -> bool:
        return False  # no App Home on a terminal: `/gateway watches` lists the same

    async def open_modal(self, trigger_id: str, view: dict[str, Any]) -> bool:
        return False

    async def find_posted(
        self, channel: str, since: float, match: Callable[[dict[str, Any]], bool]
    ) -> str | None:
        raise CannotLook("a terminal keeps no history across runs")

    def _show(
        self, heading: str, message: Message, indent: str = "", ts: str | None = None
    ) -> None:
        printed = [Text(indent + heading, style="bold cyan")]
        for line in render_lines(message):
            printed.append(Text(indent + "  ").append_text(line))
        slots = self._slots.setdefault(ts, []) if ts else []
        found = message_buttons(message)
        for i, (action, label, value) in enumerate(found):
            if i < len(slots):  # an edited message keeps its buttons' numbers
                self.buttons[slots[i]] = (action, value, ts or "")
            else:
                self.buttons.append((action, value, ts or ""))
                slots.append(len(self.buttons) - 1)
            number = slots[i] + 1 if ts else len(self.buttons)
            printed.append(Text(f"{indent}  [{number}] {label}", style="bold"))
        for gone in slots[len(found) :]:
            self.buttons[gone] = ("", "", ts or "")  # the edit took this button away
        printed.append(Text(""))
        for text in printed:
            self.console.print(text)
        width = max(1, self.console.width)
        height = sum(len(text.wrap(self.console, width)) or 1 for text in printed)
        self._last = (ts, height) if ts else None


def render_lines(message: Message) -> list[Text]:
    """The readable lines of a message: block texts with Slack's markup shown as formatting."""
    if not message.blocks:
        return list(mrkdwn(message.text).split("\n"))
    lines: list[Text] = []
    for block in message.blocks:
        kind = block.get("type")
        if kind == "header":
            lines.append(Text(_plain(block["text"]["text"]).upper(), style="bold"))
        elif kind == "section":
            if block.get("text"):
                lines += mrkdwn(block["text"]["text"]).split("\n")
            for item in block.get("fields") or []:
                field_text = mrkdwn(item["text"].replace("\n", " "))
                lines.append(Text("  ").append_text(field_text))
        elif kind == "context":
            for element in block.get("elements", []):
                lines.append(Text("  ", style="dim").append_text(mrkdwn(element.get("text", ""))))
        elif kind == "divider":
            lines.append(Text("─" * 40, style="dim"))
    return list(lines)


def mrkdwn(text: str) -> Text:
    """Slack's *bold*, _italic_, `code`, ```blocks``` and ~strike~ as styled Text spans.

    The words are added as plain strings (never parsed as rich markup), so a page that
    says `[bold red]` is shown as it is.
    """
    out = Text()
    at = 0
    for match in _MARKUP.finditer(text):
        out.append(_plain(text[at : match.start()]))
        kind = match.lastgroup or "code"
        inner = match.group(kind)
        out.append(_plain(inner.strip("\n") if kind == "pre" else inner), style=_STYLES[kind])
        at = match.end()
    out.append(_plain(text[at:]))
    return out


def message_buttons(message: Message) -> list[tuple[str, str, str]]:
    found = []
    for block in message.blocks:
        if block.get("type") == "actions":
            for element in block.get("elements", []):
                if element.get("type") == "button":
                    found.append(
                        (element["action_id"], element["text"]["text"], element.get("value", ""))
                    )
    return found


def _plain(text: str) -> str:
    text = text.replace("```", "")
    text = _DATE.sub(lambda m: m.group(1), text)
    text = _MENTION.sub(lambda m: "@" + (m.group(2) or m.group(1)), text)
    text = _GROUP.sub(lambda m: m.group(2) or "@" + m.group(1), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    for code, emoji in _EMOJI.items():
        text = text.replace(code, emoji)
    # Remote text was cleaned at the probe's edge; entities must not bring controls back.
    return printable(html.unescape(text), lines=True)


class Shell:
    """Reads lines, runs them through the Gateway, shows what it posts."""

    def __init__(
        self, gateway: Gateway | None, console: Console | None = None, stdin: TextIO | None = None
    ) -> None:
        self.gateway = gateway
        self.console = console or Console(highlight=False)
        self.chat = ShellChat(self.console)
        self.stdin = stdin or sys.stdin

    @property
    def running(self) -> Gateway:
        """The gateway, set once the shell's watches have started (bot/app.py)."""
        assert self.gateway is not None, "the shell runs with a gateway"
        return self.gateway

    async def run(self) -> None:
        self.console.print(Text(BANNER, style="dim"))
        while True:
            line = await asyncio.to_thread(self._read)
            if line is None or line.strip() in ("/quit", "/exit"):
                break
            await self.handle(line.strip())
        await self.running.drain()

    def _read(self) -> str | None:
        if self.stdin.isatty():
            try:
                return input("you> ")
            except EOFError:
                return None
        line = self.stdin.readline()
        return line if line else None

    async def handle(self, line: str) -> None:
        """One line typed by the person, answered completely before the next."""
        if not line:
            return
        request = Request(team=TEAM, channel=CHANNEL, user=USER)
        if line.startswith("/click"):
            await self._click(line, request)
            return
        if not line.startswith("/gateway"):
            self.console.print(
                Text("Only /gateway commands here; try `/gateway help`.", style="dim")
            )
            return
        text = line.removeprefix("/gateway").strip()
        answer = await self.running.answer_command(self.chat, Request(TEAM, CHANNEL, USER, text))
        if answer.text:
            await self.chat.ephemeral(CHANNEL, USER, Message(text=answer.text))
        if answer.work is not None:
            await self.running.spawn(answer.work)

    async def _click(self, line: str, request: Request) -> None:
        number = line.removeprefix("/click").strip()
        if not number.isdigit() or not 1 <= int(number) <= len(self.chat.buttons):
            self.console.print(
                Text(
                    f"No button {number or '?'}; the buttons are numbered "
                    f"1 to {len(self.chat.buttons)}.",
                    style="dim",
                )
            )
            return
        action, value, _ts = self.chat.buttons[int(number) - 1]
        if not action:
            self.console.print(Text(f"Button {number} is gone: its message was edited.", "dim"))
            return
        answer = await self.running.answer_button(self.chat, request, action, value)
        if answer.text:
            await self.chat.ephemeral(CHANNEL, USER, Message(text=answer.text))
        if answer.work is not None:
            await self.running.spawn(answer.work)
