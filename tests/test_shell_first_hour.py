"""`gateway shell` as a new user meets it: a paste of several log lines is one `explain`,
Slack's emoji are emoji, the one local person has no per-person limit, refusals speak to a
chat, a new watch is "not checked yet", and no log line comes before the banner."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime

import pytest

from bot.app import shell_settings
from bot.limits import RateLimiter
from bot.paste import Paste, starts_paste
from bot.refusals import chat_refusal
from bot.render.alerts import WatchLine, watches_message
from bot.settings import from_environment
from bot.shell import mrkdwn
from bot.spec import WatchSpec
from checks.guard import TargetRefused, vet_addresses
from checks.target import parse_target
from tests.conftest import ROOT
from tests.test_run_modes import clean_env

NGINX = (ROOT / "tests/fixtures/logs/nginx/refused.log").read_text().splitlines()[0]


def paste(*lines: str) -> Paste:
    found = Paste(lines[0])
    for line in lines[1:]:
        if found.done:
            break
        found.feed(line)
    return found


@pytest.mark.parametrize(
    ("lines", "text", "done"),
    [
        (["/gateway explain", "a", "b", "", "c"], "/gateway explain a\nb", True),
        (["/gateway explain a", "b", ""], "/gateway explain a\nb", True),
        (["/gateway explain ```", "a", "", "b", "```", "c"], "/gateway explain a\n\nb", True),
        (["/gateway explain ```a", "b```"], "/gateway explain a\nb", True),
        (["/gateway explain ```a```"], "/gateway explain a", True),
        (["/gateway explain", "a"], "/gateway explain a", False),  # the input ended
    ],
)
def test_a_paste_ends_at_an_empty_line_or_the_closing_fence(lines, text, done):
    found = paste(*lines)
    assert found.text == text and found.done is done


def test_only_explain_starts_a_paste():
    assert starts_paste("/gateway explain") and starts_paste("  /gateway explain x")
    assert not starts_paste("/gateway explainer") and not starts_paste("/gateway check x")


def run_shell(lines: str, tmp_path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "shell"],
        input=lines,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(PYTHONPATH=str(ROOT), COLUMNS="200", **env),
    )


def test_several_pasted_log_lines_get_one_answer_and_no_log_line_comes_first(tmp_path):
    lines = f"/gateway explain\n{NGINX}\n{NGINX}\n{NGINX}\n\n/quit\n"
    proc = run_shell(lines, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Only /gateway commands here" not in proc.stdout
    assert proc.stdout.count("#1 gateway") == 1 and "#2 gateway" not in proc.stdout
    assert "upstream_refused" in proc.stdout or "refused" in proc.stdout.lower()
    assert "INFO" not in proc.stderr and proc.stderr.strip() == "", proc.stderr
    assert proc.stdout.startswith("gateway shell:")


def test_a_private_target_refused_in_the_shell_says_how_to_allow_it_there(tmp_path):
    proc = run_shell("/gateway check 127.0.0.1:9\n/quit\n", tmp_path, GATEWAY_ALLOW_PRIVATE="0")
    assert proc.returncode == 0, proc.stderr
    assert "start the shell with GATEWAY_ALLOW_PRIVATE=1" in proc.stdout, proc.stdout
    assert "--allow-private" not in proc.stdout


def test_refusals_are_worded_for_the_chat_they_go_to():
    with pytest.raises(TargetRefused) as refused:
        vet_addresses("db.example", ("10.0.0.5",), allow_private=False)
    assert "--allow-private" in str(refused.value)  # the command line keeps its flag
    shell = chat_refusal(refused.value, shell=True)
    slack = chat_refusal(refused.value, shell=False)
    assert "this points to a private address" in shell and "GATEWAY_ALLOW_PRIVATE=1" in shell
    assert "start the shell" in shell and "start the shell" not in slack
    assert "--allow-private" not in shell + slack and "operator" in slack


def test_slack_emoji_shortcodes_are_shown_as_emoji():
    assert mrkdwn(":mag: Which is it? :thinking_face:").plain == "🔍 Which is it? 🤔"
    assert mrkdwn("at 10:00:00 :no_such_emoji:").plain == "at 10:00:00 :no_such_emoji:"


def test_the_one_local_person_is_not_held_to_the_per_person_limit():
    settings = shell_settings(from_environment({}))
    limiter = RateLimiter(settings.limits)
    tickets = [limiter.acquire("TSHELL", "you") for _ in range(12)]  # Slack allows 6
    for ticket in tickets:
        ticket.release()


def test_a_watch_never_checked_is_not_checked_yet_not_healthy():
    def spec(url: str) -> WatchSpec:
        return WatchSpec(parse_target(url), interval=300, after=2)

    never = WatchLine("https://a.example/", "healthy", spec("a.example"), None, None)
    checked = WatchLine("https://b.example/", "healthy", spec("b.example"), datetime.now(UTC), 1.0)
    text = watches_message([never, checked], 50).text
    first, second = text.splitlines()[1:3]
    assert "not checked yet" in first and "healthy" not in first
    assert "healthy" in second
