"""Hostile input to the pure validators: each case is refused with one UserError line.

Plain cases, one per kind of attack or accident; the property tests in test_validate_fuzz.py
cover the space around them.
"""

from __future__ import annotations

import os
import time

import pytest

from paas.domain import environment as envs
from paas.domain import limits
from paas.domain import validate as v
from paas.domain.errors import UserError
from paas.domain.manifest import decode_manifest, default_manifest, manifest_for_app, parse_manifest, read_manifest

LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2"


def refused(fn, *args, match: str | None = None) -> str:
    with pytest.raises(UserError) as e:
        fn(*args)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 400, msg
    if match:
        assert match in msg, msg
    return msg


# --------------------------------------------------------------------------- images
@pytest.mark.parametrize("ref", ["shop:ü", "shop:٣", "registry.example.com:99999999999/app:1",
                                 "registry.example.com:0/app", "registry.example.com:65536/app",
                                 "localhost:123456/app"])
def test_unicode_tags_and_impossible_registry_ports(ref):
    refused(v.image_ref, ref, match="image")


def test_registry_ports_in_range_are_fine():
    assert v.image_ref("registry.example.com:65535/app:1").repository == "registry.example.com:65535/app"
    assert v.image_ref("localhost:1/app").tag == "latest"


# --------------------------------------------------------------------------- free text
@pytest.mark.parametrize("text", ["two\nlines", "\x1b[2J\x1b[Hfake prompt", "ding\x07", "nul\x00", "cr\rover",
                                  "\u202egnp.exe", "sep\u2028", "\x9b31m", "bad\udcff"])
@pytest.mark.parametrize("fn", [v.message, v.actor, v.team])
def test_control_characters_in_free_text(fn, text):
    refused(fn, text, match="control character")


@pytest.mark.parametrize("fn,limit", [(v.message, limits.MESSAGE_MAX), (v.actor, limits.ACTOR_MAX),
                                      (v.team, limits.TEAM_MAX)])
def test_free_text_lengths(fn, limit):
    assert fn("é" * limit) == "é" * limit
    refused(fn, "x" * (limit + 1), match=f"at most {limit}")


def test_ordinary_text_passes():
    assert v.message("ship the 🚀 fix for #42 — ü, 中文") == "ship the 🚀 fix for #42 — ü, 中文"
    assert v.message(None) is None and v.team(None) is None


# --------------------------------------------------------------------------- durations
@pytest.mark.parametrize("text", ["999999999w", "3651d", "315360001", "999999999s"])
def test_durations_past_ten_years(text):
    refused(v.duration, text, "--since", match="at most 10 years")


@pytest.mark.parametrize("x", [float("inf"), float("nan"), -1, 1e300, 10**30, True, "1e9"])
def test_numeric_durations_are_finite_and_bounded(x):
    refused(v.seconds, x, "bake time")


def test_ten_years_is_allowed():
    assert v.duration("3650d") == limits.DURATION_MAX_SECONDS


# --------------------------------------------------------------------------- environment settings
@pytest.mark.parametrize("fn,bad", [
    (envs.region, "us-east-1; rm -rf /"), (envs.region, "mars-1"), (envs.region, "US-EAST-1"),
    (envs.cluster, "a" * 256), (envs.cluster, "prod cluster"), (envs.cluster, "arn:aws:ecs:us-east-1:1:cluster/x"),
    (envs.listener_arn, "arn:l"), (envs.listener_arn, LISTENER.replace("/app/", "/net/")),
    (envs.listener_arn, LISTENER + "\n"), (envs.vpc_id, "vpc-1"), (envs.vpc_id, "vpc-XYZ12345"),
    (envs.security_group_id, "sg-"), (envs.role_arn, "arn:aws:iam::123456789012:user/bob"),
    (envs.role_arn, "arn:aws:iam::123456789012:role/" + "r" * 65), (envs.endpoint_url, "file:///etc/passwd"),
    (envs.endpoint_url, "http://user:pw@host"), (envs.endpoint_url, "http://h/\x1b[2J"),
])
def test_environment_settings_in_aws_formats(fn, bad):
    refused(fn, bad, match="invalid")


def test_subnet_and_group_lists():
    assert envs.subnet_ids(["subnet-12345678", "subnet-0123456789abcdef0"]) == (
        "subnet-12345678", "subnet-0123456789abcdef0")
    refused(envs.subnet_ids, ["subnet-1"], match="subnet id")
    refused(envs.subnet_ids, ["subnet-12345678"] * 2, match="twice")
    refused(envs.subnet_ids, [f"subnet-{i:08x}" for i in range(17)], match="at most 16")
    refused(envs.security_group_ids, [f"sg-{i:08x}" for i in range(6)], match="at most 5")


def test_settings_check_arn_regions_and_web_completeness():
    s = envs.settings(region="us-east-1", cluster="prod", listener_arn=LISTENER)
    assert envs.missing_for_web(s) == ["--vpc-id", "--subnets", "--alb-security-group"]
    refused(envs.require_web_ready, s, "prod", "shop", match="cannot route web traffic")
    full = envs.settings(region="us-east-1", cluster="prod", listener_arn=LISTENER, vpc_id="vpc-12345678",
                         subnets=["subnet-12345678"], alb_security_group="sg-12345678")
    assert envs.missing_for_web(full) == []
    envs.require_web_ready(full, "prod")
    with pytest.raises(UserError, match="listener ARN is in us-east-1, the environment in eu-west-1"):
        envs.settings(region="eu-west-1", cluster="prod", listener_arn=LISTENER)


# --------------------------------------------------------------------------- config and secrets
def test_config_values_and_totals():
    assert v.key_values(["PEM=-----BEGIN\nabc\n-----END", "EMPTY="]) == {"PEM": "-----BEGIN\nabc\n-----END",
                                                                         "EMPTY": ""}
    refused(v.key_values, ["BIG=" + "x" * (limits.CONFIG_VALUE_MAX_BYTES + 1)], match="at most 32768")
    refused(v.key_values, ["BAD=\udcff"], match="UTF-8")
    refused(v.config_vars, {f"K{i}": "" for i in range(501)}, match="at most 500")
    refused(v.config_vars, {f"K{i}": "v" * 30000 for i in range(2)}, match="config too large")
    refused(v.env_key, "K" * 256, match="at most 255")
    assert v.config_size({"A": "1"}) == len('[{"name":"A","value":"1"}]')


def test_secret_values_from_stdin():
    assert v.secret_value(b"hunter2\n", "PW") == "hunter2"
    assert v.secret_value("pässword\r\n", "PW") == "pässword"
    msg = refused(v.secret_value, b"\xff\xfesecret", "PW", match="not valid UTF-8")
    assert "secret" not in msg.replace("secret PW", "")  # never the value
    refused(v.secret_value, b"  \n", "PW", match="empty")
    refused(v.secret_value, b"a\x00b", "PW", match="NUL")
    refused(v.secret_value, b"x" * 65537, "PW", match="65536")


# --------------------------------------------------------------------------- paas.toml
def test_toml_nested_100000_deep():
    for text in ("x = " + "[" * 100_000 + "]" * 100_000, "x = " + "{a = " * 40_000 + "1" + "}" * 40_000):
        refused(parse_manifest, text, match="nested too deeply")


@pytest.mark.parametrize("text,match", [
    ('[processes.web]\ncommand = "run\\u0000me"', "control character"),
    ('[processes.web]\ncommand = "echo \\u001b[2J"', "control character"),
    ('[processes.web]\ncommand = "sh -c \'echo hi"', "no closing quotation"),
    ('[processes.web]\ncommand = "   "', "empty"),
    ('[processes.web]\nport = 80\nhealth_check_path = "/a b"', "health_check_path"),
    ('[processes.web]\nport = 80\nhealth_check_path = "/\\u0007"', "control character"),
    ('[routing]\nhost = "localhost"', "routing.host"),
    ('[routing]\nhost = "shop.example.c0m"', "routing.host"),
    ('[routing]\npaths = ["/a/*", "/b/*", "/c/*"]\nhost = "*.*.*.example.com"', "wildcards"),
    ('[routing]\npaths = ["/ü"]', "routing.paths"),
    ('[strategy]\nmin_requests = 9223372036854775807', "strategy.min_requests"),
    ('[strategy]\nmax_p99_ms = 1e308', "max_p99_ms"),
    ('[strategy]\nbake = "999999999w"', "at most 10 years"),
    ('[strategy]\nbake = inf', "invalid bake time"),
    ('app = "Shop"', "invalid app name"),
    ('[processes.web]\nport = 80\n[processes.web.health_check]\ntimeout = 10\ninterval = 10', "shorter than interval"),
    ('[processes.web]\nport = 80\n[processes.web.health_check]\ninterval = 301', "interval"),
    ('[processes.web]\nport = 80\n[processes.web.health_check]\ngrace_period = "2h"', "grace_period"),
    ('[processes.web]\nport = 80\n[processes.web.health_check]\nhealthy_codes = "200-600"', "healthy_codes"),
    ('[processes.web]\nport = 80\n[processes.web.health_check]\nhealthy_threshold = 11', "healthy_threshold"),
    ('[processes.web]\nport = 80\nhealth_check_path = "/a"\n[processes.web.health_check]\npath = "/b"', "keep one"),
    ('[processes.worker]\n[processes.worker.health_check]\ninterval = 30', "no port"),
    ('[processes.web]\nport = 80\n[processes.api]\nport = 81', "route the same requests"),
])
def test_hostile_manifests(text, match):
    refused(parse_manifest, text, match=match)


def test_at_most_twenty_processes():
    text = "\n".join(f"[processes.p{i}]\ncount = 1" for i in range(21))
    refused(parse_manifest, text, match="at most 20")
    assert len(parse_manifest("\n".join(f"[processes.p{i}]\ncount = 1" for i in range(20))).processes) == 20


def test_invalid_utf8_and_oversized_files(tmp_path):
    refused(decode_manifest, b'type = "web"\n# \xff\xfe', match="not valid UTF-8")
    big = tmp_path / "paas.toml"
    big.write_bytes(b"# " + b"x" * limits.MANIFEST_MAX_BYTES)
    refused(read_manifest, str(big), match="larger than 256 KiB")
    refused(read_manifest, str(tmp_path), match="cannot read manifest")
    refused(read_manifest, str(tmp_path / "nope.toml"), match="nope.toml")
    ok = tmp_path / "ok.toml"
    ok.write_text('[processes.web]\nport = 8080\n', encoding="utf-8")
    assert read_manifest(str(ok)).processes["web"].port == 8080


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero")
def test_dev_zero_is_refused_without_reading_it_all():
    t0 = time.monotonic()
    refused(read_manifest, "/dev/zero", match="larger than")
    assert time.monotonic() - t0 < 30  # reads 256 KiB + 1 bytes, not forever


def test_type_and_app_must_agree_with_the_app():
    m = parse_manifest('type = "worker"\napp = "jobs"')
    refused(manifest_for_app, m, "jobs", "web", match="app jobs is a web app")
    refused(manifest_for_app, m, "shop", "worker", match="for app 'jobs'")
    adapted = manifest_for_app(m, "jobs", "worker")
    assert set(adapted.processes) == {"worker"} and not adapted.processes["worker"].is_web
    # no type and no processes: the app type decides, not the parser's default of "web"
    assert manifest_for_app(parse_manifest(""), "jobs", "batch") == default_manifest("batch")
    # declared processes stay
    web = manifest_for_app(parse_manifest("[processes.api]\nport = 9000"), "shop", "web")
    assert set(web.processes) == {"api"}
