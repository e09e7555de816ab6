"""The terminal chat: Slack's formatting shown as formatting, edits redrawn in place."""

from __future__ import annotations

import io

from rich.console import Console

from bot.render.slack import Message
from bot.shell import Shell, ShellChat, mrkdwn


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, color_system="standard", width=100), out


def message(text: str, buttons: list[str]) -> Message:
    blocks: list[dict] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if buttons:
        blocks.append(
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": f"act_{label}",
                        "text": {"type": "plain_text", "text": label},
                        "value": label,
                    }
                    for label in buttons
                ],
            }
        )
    return Message(text=text, blocks=blocks)


def test_mrkdwn_is_shown_as_bold_italic_code_and_strike_not_as_asterisks():
    text = mrkdwn("*down* since _16:00_, cause `server_error` ~old~ and 2*3*4 stays")
    assert text.plain == "down since 16:00, cause server_error old and 2*3*4 stays"
    styles = {text.plain[s.start : s.end]: str(s.style) for s in text.spans}
    assert styles == {
        "down": "bold",
        "16:00": "italic",
        "server_error": "bold cyan",
        "old": "strike",
    }


def test_slack_tokens_become_readable_words_and_remote_markup_stays_literal():
    text = mrkdwn(
        "<!date^1764086400^{date_short_pretty} {time}|2025-11-25 16:00 UTC> "
        "<!subteam^S1|@oncall-web> <@U2> <#C3> [bold red]not markup[/bold red] &lt;b&gt;"
    )
    assert text.plain == (
        "2025-11-25 16:00 UTC @oncall-web @U2 #C3 [bold red]not markup[/bold red] <b>"
    )
    assert not text.spans


async def test_an_edit_of_the_last_message_is_redrawn_in_place_with_the_same_buttons():
    console, out = terminal()
    chat = ShellChat(console)
    ts = await chat.post("C", message("*Checking* site…", ["Stop"]))
    await chat.update("C", ts, message("*site is down*", ["Re-run", "Watch"]))
    await chat.update("C", ts, message("*site is down*, still", ["Re-run", "Watch"]))
    shown = out.getvalue()
    assert shown.count("\x1b[4F\x1b[J") == 1  # up over the first version: 3 lines and a blank
    assert shown.count("\x1b[5F\x1b[J") == 1  # up over the second: 4 lines and a blank
    assert "*" not in shown and "\x1b[1msite is down\x1b[0m" in shown
    assert [b[0] for b in chat.buttons] == ["act_Re-run", "act_Watch"], "numbers kept"
    assert "[1] Re-run" in shown and "[2] Watch" in shown and "[3]" not in shown


async def test_an_edit_of_an_older_message_is_printed_again_with_its_numbers(tmp_path):
    console, out = terminal()
    chat = ShellChat(console)
    first = await chat.post("C", message("first", ["A", "B"]))
    await chat.post("C", message("second", ["C"]))
    await chat.update("C", first, message("first, edited", ["A"]))
    shown = out.getvalue()
    assert "\x1b[J" not in shown  # not the last message: nothing is overwritten
    assert shown.count("[1] A") == 2 and "[3] C" in shown
    assert chat.buttons[1][0] == ""  # B was taken away by the edit
    shell = Shell(None, console=console)
    shell.chat = chat
    await shell.handle("/click 2")
    assert "Button 2 is gone" in out.getvalue()


async def test_a_long_line_in_a_thread_keeps_the_thread_margin_when_it_wraps():
    out = io.StringIO()
    console = Console(file=out, width=60, color_system=None)
    chat = ShellChat(console)
    parent = await chat.post("C", message("verdict", []))
    words = "the application behind nginx is down or not listening " * 4
    await chat.post("C", message(words.strip(), []), thread_ts=parent)
    shown = out.getvalue().splitlines()
    thread = [line for line in shown if "application" in line or "nginx" in line]
    assert len(thread) >= 3
    assert all(line.startswith("  │   ") for line in thread), thread
    assert all(len(line) <= 60 for line in out.getvalue().splitlines())
