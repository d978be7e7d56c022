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


TEN_YEARS = 10 * 365 * 86400


@given(st.integers(0, 10**6), st.sampled_from(list(UNITS)), st.sampled_from(["", " "]))
def test_durations(n, unit, space):
    text = f"{n}{space}{unit}"
    if n * UNITS[unit] <= TEN_YEARS:
        assert v.duration(text) == n * UNITS[unit]
    else:
        with pytest.raises(UserError, match="at most 10 years"):
            v.duration(text)
    assert v.duration(str(n)) == n


@given(st.text(max_size=20) | st.integers() | st.floats() | st.none())
@example("999999999w")
@example("inf")
@example(float("inf"))
@example(float("nan"))
@example(-1)
@example(10**400)
def test_seconds_are_finite_and_bounded(x):
    out = refuses_cleanly(v.seconds, x, "duration")
    if out is not None:
        assert isinstance(out, float) and 0 <= out <= TEN_YEARS and out == out


@given(st.text(max_size=20))
@example("²")
@example("1" * 5000)
@example("1" * 5000 + "s")
@example("7y")
@example("-1s")
@example("999999999w")
@example("5\u3000m")
def test_durations_never_crash(s):
    n = refuses_cleanly(v.duration, s)
    if n is not None:
        assert 0 <= n <= TEN_YEARS


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


health_section = st.dictionaries(
    st.sampled_from(["path", "grace_period", "interval", "timeout", "healthy_threshold", "unhealthy_threshold",
                     "healthy_codes", "typo"]),
    values | st.sampled_from(["/ready", "200-299", "30s", 2, 5, 10, 60, 300, 3601]), max_size=4)
routing_section = st.dictionaries(
    st.sampled_from(["paths", "host", "typo"]),
    values | st.sampled_from([["/api/*"], ["/*"], ["/a/*", "/b/*"], "x.example.com", "*.example.com"]), max_size=2)
process = st.dictionaries(
    st.sampled_from(["command", "port", "cpu", "memory", "count", "health_check_path", "health_check", "routing",
                     "typo"]),
    values | health_section | routing_section | st.sampled_from(["sh -c 'x", "run\u0000", 8080, 9000]), max_size=5)
manifests = st.fixed_dictionaries({}, optional={
    "app": st.sampled_from(["shop", "Shop", "a--b"]) | scalars,
    "type": st.sampled_from(["web", "worker", "batch", "lambda"]) | scalars,
    "processes": st.dictionaries(st.sampled_from(["web", "worker", "api", "Web", "w_1"]), process, max_size=3) | scalars,
    "routing": section(["paths", "host"]),
    "strategy": section(["default", "canary_steps", "bake", "bake_seconds", "step_deadline", "max_5xx_rate",
                         "max_p99_ms", "max_p99_ratio", "min_requests"]),
})


@given(manifests)
@settings(max_examples=400)
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


# --- every other validator: a value satisfying its documented rule, or UserError -----------

from paas.domain import environment as envs  # noqa: E402
from paas.domain import gc_policy, health, limits, routing  # noqa: E402
from paas.domain.manifest import decode_manifest  # noqa: E402

CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
hostile_text = st.one_of(
    st.text(max_size=80),
    st.text(alphabet=st.characters(max_codepoint=0x2070), max_size=40),
    st.sampled_from(["ok", "a\nb", "\x1b[31mred", "bell\x07", "\u202eevil", "nul\x00", "x" * 1001, "\ud800",
                     "line\u2028sep", "tab\there", "ü", "٣"]),
)


@pytest.mark.parametrize("fn,limit", [(v.message, limits.MESSAGE_MAX), (v.actor, limits.ACTOR_MAX),
                                      (v.team, limits.TEAM_MAX)])
@given(x=hostile_text)
def test_free_text_is_one_printable_line_of_bounded_length(fn, limit, x):
    out = refuses_cleanly(fn, x)
    if out is not None:
        assert out == x and len(x) <= limit and not CONTROL.search(x)
    else:
        assert len(x) > limit or CONTROL.search(x) or (fn is v.actor and not x.strip())


@given(st.integers() | st.floats() | st.lists(st.text(max_size=3)) | st.binary(max_size=5) | st.sampled_from(["", "  "]))
def test_actor_is_non_blank_text(x):
    assert refuses_cleanly(v.actor, x) is None


ASCII_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


@given(st.text(max_size=12), st.integers(-5, 10**12))
@example("ü", 80)
@example("1", 99999999999)
def test_image_tags_ascii_and_registry_ports_in_range(t, port_):
    ref = refuses_cleanly(v.image_ref, f"registry.example.com:{port_}/shop:{t}")
    if ref is not None:
        assert 1 <= port_ <= 65535 and ASCII_TAG.fullmatch(t)
        assert ref.tag == t


@given(st.text(max_size=60) | st.sampled_from(["/", "/health", "/health?full=1", "/a b", "health", "/\x00",
                                               "/" + "a" * 1024, "/ü", "/%20"]))
def test_health_check_paths(p):
    out = refuses_cleanly(health.path, p)
    if out is not None:
        assert p.startswith("/") and len(p) <= 1024 and p.isascii() and " " not in p and not CONTROL.search(p)


@given(st.text(alphabet="0123456789,-", max_size=20) | st.text(max_size=10))
@example("200-399")
@example("200,302")
@example("199")
@example("500")
@example("399-200")
@example("200--300")
def test_healthy_codes_grammar(codes):
    out = refuses_cleanly(health.healthy_codes, codes)
    if out is not None:
        for item in codes.split(","):
            lo, _, hi = item.partition("-")
            assert 200 <= int(lo) <= int(hi or lo) <= 499


@given(st.text(max_size=140) | st.sampled_from(["/*", "/api/*", "/a?c", "/ü", "/a b", "api/*", "/" + "a" * 128]))
def test_routing_paths(p):
    out = refuses_cleanly(routing.path_pattern, p)
    if out is not None:
        assert p.startswith("/") and len(p) <= 128
        assert re.fullmatch(r"""[A-Za-z0-9_.$/~"'@:+&*?-]+""", p)


@given(st.text(max_size=140) | st.sampled_from(["shop.example.com", "*.example.com", "localhost", "*",
                                                "example.c0m", "a..b.com", ".example.com", "EXAMPLE.COM"]))
def test_routing_hosts(h):
    out = refuses_cleanly(routing.host, h)
    if out is not None:
        assert "." in h and len(h) <= 128 and re.fullmatch(r"[A-Za-z0-9*?.-]+", h)
        assert h.rsplit(".", 1)[1].isalpha()


@given(st.lists(st.sampled_from(["/*", "/a/*", "/b", "/c?", "/d/*/e/*", "/x"]), min_size=1, max_size=7),
       st.none() | st.sampled_from(["a.example.com", "*.example.com", "*.*.example.com"]))
def test_rule_limits(paths, h):
    r = refuses_cleanly(routing.check, routing.Routing(tuple(paths), h))
    values = paths + ([h] if h else [])
    ok = (len(values) <= 5 and sum(x.count("*") + x.count("?") for x in values) <= 5
          and len(set(paths)) == len(paths))
    assert (r is not None) == ok


ENV_CASES = {
    envs.region: (r"[a-z]{2}(-gov|-iso|-isob)?-[a-z]+-[0-9]{1,2}", ["us-east-1", "us-gov-west-1", "US-EAST-1",
                                                                      "us-east-1\n", "us-east", "eu-central-22"]),
    envs.vpc_id: (r"vpc-([0-9a-f]{8}|[0-9a-f]{17})", ["vpc-12345678", "vpc-0123456789abcdef0", "vpc-1",
                                                      "vpc-0123456789ABCDEF0"]),
    envs.security_group_id: (r"sg-([0-9a-f]{8}|[0-9a-f]{17})", ["sg-12345678", "sg-", "sg-123456789"]),
}


@pytest.mark.parametrize("fn", list(ENV_CASES))
@given(data=st.data())
def test_environment_ids_follow_aws_formats(fn, data):
    rule, samples = ENV_CASES[fn]
    x = data.draw(st.sampled_from(samples) | st.from_regex(rule, fullmatch=True) | st.text(max_size=25))
    out = refuses_cleanly(fn, x)
    assert (out is not None) == (re.fullmatch(rule, x, re.ASCII) is not None)


@given(st.text(max_size=300) | st.sampled_from([
    "prod", "a" * 256, "arn:aws:ecs:us-east-1:123456789012:cluster/prod", "arn:aws:ecs:us-east-1:1:cluster/x",
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2",
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/net/web/50dc6c495c0c9188/f2f7dc8efc522ab2",
    "arn:aws:iam::123456789012:role/deployer", "arn:aws:iam::123456789012:role/path/to/deployer",
    "arn:aws:iam::123456789012:user/x", "http://127.0.0.1:5000", "https://user:pw@host", "ftp://x"]))
def test_environment_arns_and_urls_follow_their_rules(x):
    rules = {
        envs.cluster: lambda s: re.fullmatch(r"[A-Za-z0-9_-]{1,255}", s) or re.fullmatch(
            r"arn:aws[a-z-]*:ecs:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9_-]{1,255}", s),
        envs.listener_arn: lambda s: re.fullmatch(
            r"arn:aws[a-z-]*:elasticloadbalancing:[a-z0-9-]+:[0-9]{12}:listener/app/[A-Za-z0-9-]{1,32}/[0-9a-f]{16}/[0-9a-f]{16}", s),
        envs.role_arn: lambda s: re.fullmatch(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/\S+", s) and len(s.rsplit("/", 1)[1]) <= 64,
        envs.endpoint_url: lambda s: re.match(r"https?://[^@/\s]+", s) and not re.search(r"\s|@", s),
    }
    for fn, rule in rules.items():
        out = refuses_cleanly(fn, x)
        if out is not None:
            assert out == x and x.isascii() and not CONTROL.search(x) and rule(x), (fn.__name__, x)


@given(st.dictionaries(st.text(max_size=8), st.text(max_size=40), max_size=5)
       | st.sampled_from([{"K": "\x00"}, {"K": "\ud800"}, {"K": "x" * (32 * 1024 + 1)}, {"1K": "v"},
                          {f"K{i}": "" for i in range(501)}, {f"K{i}": "v" * 1000 for i in range(60)}]))
def test_config_vars_bounded(d):
    out = refuses_cleanly(v.config_vars, d)
    if out is not None:
        assert len(out) <= 500 and v.config_size(out) <= 48 * 1024
        assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) and "\x00" not in val for k, val in out.items())


@given(st.binary(max_size=64) | st.sampled_from([b"\xff\xfe", b"ok\n", b"\n", b"a\x00b", b"x" * 65537, "é".encode()]))
def test_secret_values_from_stdin(data):
    out = refuses_cleanly(v.secret_value, data, "DB_PASSWORD")
    if out is not None:
        assert out.strip() and "\x00" not in out and len(out.encode()) <= 65536
        assert data.decode("utf-8").startswith(out)


@given(st.text(max_size=60) | st.sampled_from(["gunicorn app:wsgi", "sh -c 'echo hi", 'echo "unclosed', "a\\",
                                               "run\x00", "", "   ", "x" * 4097, "a\nb"]))
def test_commands_split_like_a_shell(c):
    import shlex

    out = refuses_cleanly(v.command, c)
    if out is not None:
        assert shlex.split(c) and len(c) <= 4096 and not CONTROL.search(c)


@given(st.dictionaries(st.sampled_from(list(gc_policy.KEYS) + ["typo"]),
                       st.integers(-5, 10**13) | st.text(max_size=12) | st.floats() | st.none()
                       | st.sampled_from(["9" * 5000, "30m", "never", "999999999w"]), max_size=3))
def test_gc_policy_overrides(d):
    out = refuses_cleanly(gc_policy.validate_overrides, d)
    if out is not None:
        for k, val in out.items():
            if k == "keep_task_definitions":
                assert 1 <= val <= gc_policy.MAX_KEEP
            else:
                assert val is None or 0 <= val <= TEN_YEARS


@given(st.binary(max_size=300))
@example(b"\xff")
@example(b"type = \"web\"\n\x80")
def test_manifest_bytes_never_crash(data):
    refuses_cleanly(decode_manifest, data)
