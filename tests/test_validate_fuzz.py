"""Property tests of the input rules (paas/domain/validate.py) and the paas.toml parser.

Two kinds of property: values generated from each grammar are accepted (and image references
round-trip), and arbitrary input is either accepted or refused with `UserError`, never any
other exception (which would reach the user as a traceback).
"""

from __future__ import annotations

import json
import re
import string

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from paas.domain import validate as v
from paas.domain.errors import UserError
from paas.domain.manifest import Manifest, parse_manifest

settings.register_profile("paas", deadline=None, max_examples=100,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("paas")

anything = st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")), st.integers(), st.floats(),
                     st.none(), st.booleans(), st.lists(st.integers()))


def refuses_cleanly(fn, *args):
    """Call fn; a UserError is fine (one line), anything else fails the test."""
    try:
        return fn(*args)
    except UserError as e:
        assert "\n" not in str(e)
        return None


# --- names -----------------------------------------------------------------------------------

valid_names = st.from_regex(r"\A[a-z][a-z0-9-]{0,29}\Z")


@given(valid_names)
def test_valid_names_accepted(n):
    assert v.name(n) == n


@given(st.text(max_size=40))
@example("A")
@example("a" * 31)
@example("a_b")
@example("1a")
@example("")
@example("a\n")
def test_names_match_the_documented_rule(n):
    ok = re.fullmatch(r"[a-z][a-z0-9-]{0,29}", n) is not None
    assert (refuses_cleanly(v.name, n) is not None) == ok


@given(anything)
def test_names_never_crash(x):
    refuses_cleanly(v.name, x)


# --- image references ------------------------------------------------------------------------

alnum = st.text(string.ascii_lowercase + string.digits, min_size=1, max_size=6)
separator = st.sampled_from([".", "_", "__", "-", "--"])
path_component = st.builds(lambda first, rest: first + "".join(s + a for s, a in rest),
                           alnum, st.lists(st.tuples(separator, alnum), max_size=2))
domain_label = st.from_regex(r"\A[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?\Z")
# a registry is recognised by a '.', a ':port' or being localhost (as docker does)
domain = st.one_of(
    st.just("localhost"),
    st.builds(lambda labels: ".".join(labels), st.lists(domain_label, min_size=2, max_size=3)),
    st.builds(lambda label, port: f"{label}:{port}", domain_label, st.integers(1, 65535)),
    st.builds(lambda labels, port: ".".join(labels) + f":{port}",
              st.lists(domain_label, min_size=2, max_size=3), st.integers(1, 65535)),
)
tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\Z")
digest = st.one_of(
    st.from_regex(r"\A[0-9a-f]{64}\Z").map(lambda h: f"sha256:{h}"),
    st.from_regex(r"\A[0-9a-f]{128}\Z").map(lambda h: f"sha512:{h}"),
)


@st.composite
def image_refs(draw):
    repo = "/".join(draw(st.lists(path_component, min_size=1, max_size=3)))
    dom = draw(st.none() | domain)
    if dom:
        repo = f"{dom}/{repo}"
    assume(len(repo) <= 255)
    t = draw(st.none() | tag)
    d = draw(st.none() | digest)
    return repo, t, d


@given(image_refs())
@example(("registry.example.com:5000/team/app", "1.2.3", None))
@example(("localhost/app", None, "sha256:" + "0" * 64))
@example(("a", None, None))
def test_valid_image_references_parse_and_round_trip(parts):
    repo, t, d = parts
    text = repo + (f":{t}" if t else "") + (f"@{d}" if d else "")
    ref = v.image_ref(text)
    assert ref.repository == repo
    assert ref.digest == d
    assert ref.tag == (t if t or d else "latest")  # a bare name means :latest, as docker does
    assert v.image_ref(str(ref)) == ref
    if t or d:
        assert str(ref) == text


@given(st.text(max_size=300))
@example("nginx@sha256:" + "A" * 64)
@example("Foo/bar")
@example("a" * 3000 + "!")
def test_random_text_never_raises_anything_but_user_error(s):
    ref = refuses_cleanly(v.image_ref, s)
    if ref is not None:  # whatever is accepted round-trips
        assert v.image_ref(str(ref)) == ref


@given(anything)
def test_image_ref_non_strings(x):
    refuses_cleanly(v.image_ref, x)


# --- Fargate sizes ---------------------------------------------------------------------------

AWS_TABLE = {  # ECS developer guide, "Task CPU and memory" for Fargate (Linux)
    256: [512, 1024, 2048],
    512: list(range(1024, 4097, 1024)),
    1024: list(range(2048, 8193, 1024)),
    2048: list(range(4096, 16385, 1024)),
    4096: list(range(8192, 30721, 1024)),
    8192: list(range(16384, 61441, 4096)),
    16384: list(range(32768, 122881, 8192)),
}
PAIRS = [(c, m) for c, ms in AWS_TABLE.items() for m in ms]


@given(st.sampled_from(PAIRS))
def test_every_fargate_pair_accepted(pair):
    assert v.fargate_size(*pair) == pair


@given(st.integers(-1, 130000) | st.sampled_from(list(AWS_TABLE)), st.integers(-1, 130000))
def test_only_fargate_pairs_accepted(cpu, memory):
    accepted = refuses_cleanly(v.fargate_size, cpu, memory) is not None
    assert accepted == ((cpu, memory) in set(PAIRS))


@given(anything, anything)
def test_fargate_never_crashes(cpu, memory):
    refuses_cleanly(v.fargate_size, cpu, memory)


# --- env keys --------------------------------------------------------------------------------

@given(st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,60}\Z"))
def test_valid_env_keys(k):
    assert v.env_key(k) == k


@given(st.text(max_size=30))
@example("1A")
@example("A-B")
@example("A B")
@example("")
@example("Ä")
def test_env_keys_follow_posix_names(k):
    ok = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) is not None
    assert (refuses_cleanly(v.env_key, k) is not None) == ok


@given(st.lists(st.text(max_size=20), max_size=5))
def test_key_values_never_crash(pairs):
    out = refuses_cleanly(v.key_values, pairs)
    if out is not None:
        assert all(f"{k}={val}" in pairs for k, val in out.items())


# --- durations -------------------------------------------------------------------------------

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


@given(st.integers(0, 10**6), st.sampled_from(list(UNITS)), st.sampled_from(["", " "]))
def test_durations(n, unit, space):
    assert v.duration(f"{n}{space}{unit}") == n * UNITS[unit]
    assert v.duration(str(n)) == n


@given(st.text(max_size=20))
@example("²")
@example("1" * 5000)
@example("1" * 5000 + "s")
@example("7y")
@example("-1s")
def test_durations_never_crash(s):
    refuses_cleanly(v.duration, s)


@given(st.text(max_size=12))
@example("v²")
@example("v" + "9" * 5000)
def test_version_labels_never_crash(s):
    n = refuses_cleanly(v.version_label, s)
    if n is not None:
        assert n >= 1 and s.lstrip("vV") and int(s.lstrip("vV")) == n


@given(st.lists(st.text(max_size=12), max_size=4))
@example(["web=²"])
def test_scale_pairs_never_crash(pairs):
    refuses_cleanly(v.scale_pairs, pairs)


# --- canary steps ----------------------------------------------------------------------------

@given(st.sets(st.integers(1, 99), max_size=6))
def test_rising_steps_ending_at_100_accepted(steps):
    s = sorted(steps) + [100]
    assert v.canary_steps(s) == s


@given(st.lists(st.integers(-5, 120) | st.booleans() | st.floats(allow_nan=True), max_size=6))
def test_canary_steps_rule(steps):
    ok = (bool(steps) and all(type(x) is int and 1 <= x <= 100 for x in steps)
          and all(b > a for a, b in zip(steps, steps[1:])) and steps[-1] == 100)
    assert (refuses_cleanly(v.canary_steps, steps) is not None) == ok


# --- paas.toml -------------------------------------------------------------------------------

def toml_value(x) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, (int, float)):
        return repr(x) if not isinstance(x, float) else (repr(x) if x == x and abs(x) != float("inf") else "nan")
    if isinstance(x, str):
        return json.dumps(x)
    if isinstance(x, list):
        return "[" + ", ".join(toml_value(i) for i in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(val)}" for k, val in x.items()) + "}"
    raise TypeError(x)


scalars = (st.integers(-10, 70000) | st.sampled_from([0, 1, 256, 512, 1024, 2048, 4096, 8080, 65535, 65536])
           | st.floats() | st.booleans() | st.text(max_size=8)
           | st.sampled_from(["/", "/health", "health", "canary", "rolling", "web", "10s", "5m", "/*", "a.example.com"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3), max_leaves=6)


def section(allowed: list[str]):
    """A table of mostly-known keys (and the odd typo) with plausible or hostile values."""
    return st.dictionaries(st.sampled_from(allowed + ["typo"]), values, max_size=len(allowed))


process = section(["command", "port", "cpu", "memory", "count", "health_check_path"])
manifests = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["web", "worker", "batch", "lambda"]) | scalars,
    "processes": st.dictionaries(st.sampled_from(["web", "worker", "Web", "w_1"]), process, max_size=3) | scalars,
    "routing": section(["paths", "host"]),
    "strategy": section(["default", "canary_steps", "bake", "bake_seconds", "step_deadline", "max_5xx_rate",
                         "max_p99_ms", "max_p99_ratio", "min_requests"]),
})


@given(manifests)
@settings(max_examples=300)
@example({"processes": {"web": {"port": 8080, "cpu": 512, "memory": 1024}}, "strategy": {"bake": "5m"}})
def test_manifest_parser_refuses_cleanly(doc):
    text = "\n".join(f"{json.dumps(k)} = {toml_value(val)}" for k, val in doc.items())
    m = refuses_cleanly(parse_manifest, text)
    if m is not None:
        assert Manifest.from_json(json.loads(json.dumps(m.to_json()))) == m


@given(st.text(max_size=200))
def test_manifest_parser_random_text(text):
    refuses_cleanly(parse_manifest, text)


def test_refuses_cleanly_can_fail():
    with pytest.raises(ZeroDivisionError):
        refuses_cleanly(lambda: 1 / 0)
