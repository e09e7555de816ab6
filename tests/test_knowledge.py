"""The knowledge files are checked when they are loaded: every kind of mistake that
used to surface only when an incident rendered it now fails at load, in one line
naming the file and the table."""

from __future__ import annotations

import copy
import functools
import tomllib
from collections.abc import Callable

import pytest

from checks.knowledge import HERE, KnowledgeError, from_data, load
from checks.knowledge.logs import load_logs, logs_from_data


@functools.cache
def _files() -> tuple[dict, dict, dict]:
    return tuple(
        tomllib.loads((HERE / name).read_text())
        for name in ("causes.toml", "products.toml", "notes.toml")
    )


def build(change: Callable[[dict, dict, dict], None]) -> None:
    causes, products, notes = copy.deepcopy(_files())
    change(causes, products, notes)
    from_data(causes, products, notes)


def test_the_shipped_knowledge_loads():
    knowledge = load()
    assert len(knowledge.causes) == 33
    for code in ("upstream_dns", "upstream_overloaded", "upstream_header_too_big", "client_closed"):
        assert knowledge.causes[code].owner, code
    for product in ("trafficserver", "lighttpd", "h2o", "nghttpx", "kong", "php-fpm"):
        assert product in knowledge.products


def _set(table: str, path: tuple, value: object) -> Callable[[dict, dict, dict], None]:
    def change(causes: dict, products: dict, notes: dict) -> None:
        node = {"causes": causes, "products": products, "notes": notes}[table]
        for key in path[:-1]:
            node = node[key]
        if value is _DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value

    return change


_DELETE = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # causes.toml
        (_set("causes", ("upstream_refused", "verdict"), "dwon"), r"verdict: 'dwon' is not one of"),
        (_set("causes", ("upstream_refused", "layer"), "gatway"), r"layer: 'gatway' is not one of"),
        (
            _set("causes", ("upstream_refused", "layer"), "service"),
            r"contract puts upstream_refused in 'gateway'",
        ),
        (
            _set("causes", ("upstream_refused", "verdikt"), "down"),
            r"unknown key\(s\) \['verdikt'\]",
        ),
        (_set("causes", ("upstream_refused", "title"), _DELETE), r"missing \['title'\]"),
        (
            _set("causes", ("upstream_refused", "owner"), "restart it"),
            r"owner: expected a non-empty list",
        ),
        (
            _set("causes", ("upstream_refused", "title"), "The {gatway} failed"),
            r"unknown placeholder",
        ),
        (_set("causes", ("upstream_refused", "title"), "Use {{ and } wrongly"), r"braces doubled"),
        (_set("causes", ("upstream_refused", "title"), "<!channel> look"), r"no angle brackets"),
        (
            _set("causes", ("upstream_refused", "owner_for", "ngnix"), ["x"]),
            r"unknown products \['ngnix'\]",
        ),
        (_set("causes", ("upstream_refused",), _DELETE), r"missing \['upstream_refused'\]"),
        (_set("causes", ("upstream_refusal",), {}), r"unknown \['upstream_refusal'\]"),
        # products.toml
        (
            _set("products", ("nginx", "kind"), "reverse-proxy"),
            r"kind: 'reverse-proxy' is not one of",
        ),
        (
            _set("products", ("nginx", "rule", 0, "status"), _DELETE),
            r"neither status nor range, so it can never match",
        ),
        (
            _set("products", ("nginx", "rule", 0, "status"), []),
            r"empty status list can never match",
        ),
        (_set("products", ("nginx", "rule", 0, "stauts"), [502]), r"unknown key\(s\) \['stauts'\]"),
        (
            _set("products", ("unknown", "rule", -1, "range"), [499, 400]),
            r"499 > 400, so it can never match",
        ),
        (_set("products", ("nginx", "rule", 0, "status"), [5020]), r"from 0 to 999"),
        (
            _set("products", ("nginx", "rule", 0, "causes"), [["upstream_refusd", 0.5]]),
            r"'upstream_refusd' is not one of",
        ),
        (
            _set("products", ("nginx", "rule", 0, "causes"), [["upstream_refused", 55]]),
            r"confidence: expected a number from 0.01 to 1",
        ),
        (_set("products", ("nginx", "rule", 0, "causes"), []), r"no causes"),
        (_set("products", ("nginx", "rule", 1, "pattern"), "x"), r"a pattern needs a header"),
        (
            _set("products", ("squid", "rule", 0, "pattern"), "ERR_(CONNECT"),
            r"invalid regular expression",
        ),
        (
            _set("products", ("nginx", "signal", 0, "header"), _DELETE),
            r"give either a header or a body marker",
        ),
        (_set("products", ("nginx", "signal", 0, "weight"), 0), r"weight: expected a whole number"),
        (_set("products", ("nginx", "name"), _DELETE), r"missing \['name'\]"),
        (_set("products", ("fly",), _DELETE), r"missing products \['fly'\]"),
        (_set("products", ("ngnix",), {"name": "x", "kind": "proxy"}), r"unknown \['ngnix'\]"),
        # a rule shadowed by a broader one above it
        (
            _set(
                "products",
                ("nginx", "rule"),
                [
                    {"status": [502], "causes": [["upstream_refused", 0.5]]},
                    {"status": [502], "body": "x", "causes": [["upstream_tls", 0.5]]},
                ],
            ),
            r"rule #2 can never match: rule #1 above it",
        ),
        # notes.toml
        (_set("notes", ("neighbours", "502"), [504, 418]), r"no \[status.N\] entry for \[418\]"),
        (
            _set("notes", ("hack", "applies_to"), [502, "five"]),
            r"applies_to: expected a whole number",
        ),
        (_set("notes", ("seo", "txt"), "x"), r"unknown key\(s\) \['txt'\]"),
        (
            _set("notes", ("status", "502", "text"), "{host} & co"),
            r"no angle brackets or ampersands",
        ),
    ],
)
def test_a_mistake_in_the_knowledge_fails_at_load(change, message):
    with pytest.raises(KnowledgeError, match=message):
        build(change)


def test_a_rule_narrower_than_the_one_above_it_is_fine():
    def change(causes, products, notes):
        products["nginx"]["rule"] = [
            {"status": [502], "body": "x", "causes": [["upstream_tls", 0.5]]},
            {"status": [502], "causes": [["upstream_refused", 0.5]]},
        ]

    build(change)


def test_the_error_names_the_file_and_the_table():
    with pytest.raises(KnowledgeError) as caught:
        build(_set("causes", ("forbidden", "verdict"), "blocked"))
    assert str(caught.value).startswith("causes.toml [forbidden] verdict: 'blocked'")
    assert "\n" not in str(caught.value)


# --------------------------------------------------------------------------- logs.toml


@functools.cache
def _logs() -> dict:
    return tomllib.loads((HERE / "logs.toml").read_text())


def _first(data: dict, fmt: str) -> dict:
    return next(p for p in data["pattern"] if p["format"] == fmt)


def _log_change(fn: Callable[[dict], None]) -> Callable[[], None]:
    def build_logs() -> None:
        data = copy.deepcopy(_logs())
        fn(data)
        logs_from_data(data)

    return build_logs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["format"]["nginx_error"].update(product="ngnix"),
            r"product: 'ngnix' is not one of",
        ),
        (
            lambda d: _first(d, "nginx_error").update(cause="upstream_refusd"),
            r"cause: 'upstream_refusd' is not one of",
        ),
        (
            lambda d: _first(d, "nginx_error").update(format="nginx_eror"),
            r"format: 'nginx_eror' is not one of",
        ),
        (
            lambda d: _first(d, "nginx_error").update(confidence=1.5),
            r"confidence: expected a number",
        ),
        (
            lambda d: _first(d, "nginx_error").update(match={"mesage": "x"}),
            r"unknown field\(s\) \['mesage'\]",
        ),
        (
            lambda d: _first(d, "nginx_error").update(match={"message": "connect("}),
            r"invalid regular expression",
        ),
        (
            lambda d: _first(d, "nginx_error").update(evidence="{upstraem}"),
            r"unknown field\(s\) \['upstraem'\]",
        ),
        (lambda d: _first(d, "nginx_error").pop("source"), r"missing \['source'\]"),
        (lambda d: _first(d, "nginx_error").update(causes="x"), r"unknown key\(s\) \['causes'\]"),
        (
            lambda d: _first(d, "nginx_error").update(example="a line of nothing"),
            r"its example is explained by no pattern, so it can never match",
        ),
        (
            lambda d: d["format"]["nginx_error"].pop("time_format"),
            r"time and time_format go together",
        ),
        (
            lambda d: d["format"]["caddy_json"].update(time_format="unix"),
            r"time_format: 'unix' is not one of",
        ),
        (
            lambda d: d["format"]["nginx_error"].update(json=True),
            r"either a line pattern or json = true",
        ),
        (
            lambda d: _first(d, "nginx_error").update(title="The {gatway} failed"),
            r"unknown placeholder",
        ),
        (
            # a broader pattern put above a narrower one makes the narrower one dead
            lambda d: d["pattern"].insert(
                0, {**_first(d, "haproxy_http"), "match": {"termination": "^S"}}
            ),
            r"its example is explained by pattern haproxy_http#1 .* above it, so it can never match",
        ),
    ],
)
def test_a_mistake_in_the_log_knowledge_fails_at_load(change, message):
    with pytest.raises(KnowledgeError, match=message):
        _log_change(change)()


def test_the_shipped_log_knowledge_loads_with_every_pattern_reachable():
    logs = load_logs()
    assert sum(len(p) for p in logs.patterns.values()) >= 80


def test_every_shared_message_pattern_needs_a_word_so_one_search_screens_them_all():
    """The shared `messages` are tried on every line nothing else reads (an
    application's whole log): one search for the words their patterns cannot match
    without rules them out. A pattern without such a word (e.g. written with (?i))
    would send every line through all of them: ten times the time."""
    logs = load_logs()
    wordless = [p.key for p in logs.patterns["messages"] if not any(p.words)]
    assert wordless == []
