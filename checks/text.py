"""Remote text made safe to show anywhere: no control character survives.

A certificate subject, a header or a page is written by whoever runs the
site. Shown on a terminal, `ESC[2J` would clear the screen of the person who
ran `gateway check`, and a bidi override would reorder what they read. Every
string a probe takes from the network goes through `printable` at the probe's
edge, so the evidence itself is clean for every renderer.
"""

from __future__ import annotations

REPLACEMENT = "\ufffd"
# C0 controls, DEL and C1 controls; bidi embeddings, overrides and isolates, the
# invisible marks that steer direction, and the line/paragraph separators.
_STEERING = [*range(0x00, 0x20), *range(0x7F, 0xA0)]
_STEERING += [0x061C, 0x200E, 0x200F, 0x2028, 0x2029, *range(0x202A, 0x202F)]
_STEERING += [*range(0x2066, 0x206A)]
_LINE = {ord("\n"), ord("\t")}
_ONE_LINE = dict.fromkeys(_STEERING, REPLACEMENT)
_LINES = {code: value for code, value in _ONE_LINE.items() if code not in _LINE}
_ONE_LINE[ord("\t")] = " "


def printable(text: str, lines: bool = False) -> str:
    """`text` with each control character replaced by U+FFFD (tab is a space).

    With `lines`, newlines and tabs are kept (a page's text); a CR becomes a newline.
    """
    if lines:
        return text.replace("\r\n", "\n").replace("\r", "\n").translate(_LINES)
    return text.translate(_ONE_LINE)


def is_printable(text: str, lines: bool = False) -> bool:
    """True when `printable` would leave `text` as it is."""
    return printable(text, lines) == text
