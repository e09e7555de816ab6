"""A refused target, worded for a chat: no command-line flag to pass there.

The command line says "pass --allow-private"; in Slack nobody can pass a flag, and
in `gateway shell` the setting is an environment variable of the shell itself.
"""

from __future__ import annotations

from checks.guard import TargetRefused

SHELL_HINT = "start the shell with GATEWAY_ALLOW_PRIVATE=1 to check internal sites"
SLACK_HINT = (
    "I check only public sites here; the bot's operator can allow internal ones "
    "with GATEWAY_ALLOW_PRIVATE=1"
)


def chat_refusal(exc: TargetRefused, shell: bool) -> str:
    """One line for the person who asked: what the target points to, and what would help."""
    hint = SHELL_HINT if shell else SLACK_HINT
    if not exc.where:
        return f"{exc}"
    if exc.kind == "internal":
        return f"I won't check {exc.where}: it names a cloud metadata or internal service; {hint}"
    article = "an" if exc.kind[:1] in "aeiou" else "a"
    return f"I won't check {exc.where}: this points to {article} {exc.kind} address; {hint}"
