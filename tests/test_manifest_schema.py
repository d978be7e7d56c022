"""paas.toml's JSON Schema agrees with the parser, and the README's examples satisfy both."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given, settings

from paas.domain.errors import UserError
from paas.domain.manifest import parse_manifest
from paas.domain.manifest_schema import schema
from tests.test_validate_fuzz import manifests, toml_value

README = Path(__file__).resolve().parents[1] / "README.md"
VALIDATOR = jsonschema.Draft202012Validator(schema())


def schema_ok(doc: dict) -> bool:
    return VALIDATOR.is_valid(doc)


def parser_ok(text: str) -> bool:
    try:
        parse_manifest(text)
        return True
    except UserError:
        return False


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(schema())
    assert json.loads(json.dumps(schema())) == schema()  # plain JSON


def test_readme_examples_satisfy_schema_and_parser():
    blocks = re.findall(r"```toml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    assert len(blocks) >= 2
    for text in blocks:
        assert schema_ok(tomllib.loads(text)), list(VALIDATOR.iter_errors(tomllib.loads(text)))
        parse_manifest(text)


GOOD = [
    "",
    'app = "shop"\ntype = "worker"\n[processes.worker]\ncommand = "celery worker"',
    "[processes.web]\nport = 8080\ncpu = 1024\nmemory = 2048",
    "[processes.web]\nport = 8080\nmemory = 2048",  # cpu 256 by default
    "[processes.web]\nport = 8080\nhealth_check_path = \"/healthz\"",
    "[processes.web]\nport = 8080\n[processes.web.health_check]\npath = \"/ready?deep=1\"\ngrace_period = \"5m\"\n"
    "interval = 30\ntimeout = 10\nhealthy_threshold = 3\nunhealthy_threshold = 5\nhealthy_codes = \"200,302\"",
    "[processes.web]\nport = 80\n[processes.api]\nport = 81\n[processes.api.routing]\npaths = [\"/api/*\"]\n"
    "host = \"api.example.com\"",
    "[routing]\npaths = [\"/a/*\", \"/b/*\"]\nhost = \"*.example.com\"",
    "[strategy]\ndefault = \"blue-green\"\nbake = 300\nstep_deadline = \"15m\"\nmin_requests = 0",
    "[release]\ncommand = \"manage migrate\"\ntimeout = \"10m\"",
    "[processes.web]\nport = 80\n[processes.worker]\n[release]\ncommand = \"migrate\"\nprocess = \"worker\"\n"
    "[jobs.nightly]\nschedule = \"cron(0 3 * * ? *)\"\ncommand = \"report\"\nprocess = \"worker\"\n"
    "cpu = 512\nmemory = 1024\n[jobs.sweep]\nschedule = \"rate(15 minutes)\"\ncommand = \"sweep\"",
]

# (document, what is wrong): both the schema and the parser refuse
BAD = [
    ("typo = 1", "unknown top-level key"),
    ('app = "Shop"', "app name"),
    ('type = "lambda"', "app type"),
    ("[processes.Web]\nport = 80", "process name"),
    ("[processes.web]\nprt = 80", "unknown process key"),
    ("[processes.web]\nport = 0", "port range"),
    ("[processes.web]\ncpu = 300", "cpu value"),
    ("[processes.web]\ncpu = 1024", "memory default 512 is no pair for cpu 1024"),
    ("[processes.web]\ncpu = 256\nmemory = 4096", "cpu/memory pair"),
    ("[processes.web]\ncount = 1001", "count range"),
    ("[processes.worker]\n[processes.worker.health_check]\ninterval = 30", "health check without a port"),
    ("[processes.worker]\n[processes.worker.routing]\npaths = [\"/x\"]", "routing without a port"),
    ("[processes.web]\nport = 80\nhealth_check_path = \"/a\"\n[processes.web.health_check]\npath = \"/a\"",
     "both spellings of the path"),
    ("[processes.web]\nport = 80\nhealth_check_path = \"health\"", "path without /"),
    ("[processes.web]\nport = 80\n[processes.web.health_check]\ninterval = 4", "interval below 5"),
    ("[processes.web]\nport = 80\n[processes.web.health_check]\ngrace_period = 3601", "grace period above 3600"),
    ("[processes.web]\nport = 80\n[processes.web.health_check]\nhealthy_codes = \"2xx\"", "codes grammar"),
    ("[processes.web]\ncommand = \"run\\u0000\"", "control character"),
    ("[routing]\npaths = []", "no paths"),
    ("[routing]\npaths = [\"/a\", \"/a\"]", "a path twice"),
    ("[routing]\npaths = [\"a\"]", "path without /"),
    ("[routing]\nhost = \"localhost\"", "host without a dot"),
    ("[routing]\nhost = \"a..example.com\"", "empty label"),
    ("[strategy]\ndefault = \"yolo\"", "strategy name"),
    ("[strategy]\nbake = \"soon\"", "duration grammar"),
    ("[strategy]\nbake = -1", "negative duration"),
    ("[strategy]\nmax_5xx_rate = 2", "rate above 1"),
    ("[strategy]\nmin_requests = 9223372036854775807", "int64 max"),
    ("\n".join(f"[processes.p{i}]" for i in range(21)), "21 processes"),
    ("[release]\nprocess = \"web\"", "release without a command"),
    ("[release]\ncommand = \"x\"\ntimeout = 0", "release timeout below 1s"),
    ("[release]\ncommand = \"x\"\nretries = 3", "unknown release key"),
    ("[jobs.Nightly]\nschedule = \"rate(1 hour)\"\ncommand = \"x\"", "job name"),
    ("[jobs.nightly]\ncommand = \"x\"", "job without a schedule"),
    ("[jobs.nightly]\nschedule = \"rate(1 hour)\"", "job without a command"),
    ("[jobs.nightly]\nschedule = \"at(2026-12-01T00:00:00)\"\ncommand = \"x\"", "one-time schedule"),
    ("[jobs.nightly]\nschedule = \"rate(1 hour)\"\ncommand = \"x\"\ncpu = 300", "job cpu"),
    ("\n".join(f"[jobs.j{i}]\nschedule = \"rate(1 hour)\"\ncommand = \"x\"" for i in range(51)), "51 jobs"),
]

# the parser refuses, the schema cannot tell (see manifest_schema.NOT_EXPRESSED)
PARSER_ONLY = [
    "[strategy]\ncanary_steps = [50, 10]",
    "[processes.web]\nport = 80\n[processes.web.health_check]\ntimeout = 10",
    "[processes.web]\nport = 80\n[processes.web.health_check]\ngrace_period = \"2h\"",
    "[routing]\npaths = [\"/a/*\", \"/b/*\", \"/c/*\"]\nhost = \"*.*.*.example.com\"",
    "[processes.web]\nport = 80\n[processes.api]\nport = 81",
    "[processes.web]\ncommand = \"sh -c 'x\"",
    "[processes.web]\ncpu = 256.0",
    "[jobs.nightly]\nschedule = \"rate(2 hour)\"\ncommand = \"x\"",
    "[jobs.nightly]\nschedule = \"cron(0 3 * * * *)\"\ncommand = \"x\"",
    "[jobs.nightly]\nschedule = \"rate(1 hour)\"\ncommand = \"x\"\nprocess = \"worker\"",
    "[release]\ncommand = \"x\"\nprocess = \"worker\"",
    "[jobs.nightly]\nschedule = \"rate(1 hour)\"\ncommand = \"x\"\ncpu = 1024",
]


@pytest.mark.parametrize("text", GOOD)
def test_good_manifests_pass_both(text):
    assert parser_ok(text) and schema_ok(tomllib.loads(text))


@pytest.mark.parametrize("text,why", BAD, ids=[why for _, why in BAD])
def test_bad_manifests_fail_both(text, why):
    assert not parser_ok(text), why
    assert not schema_ok(tomllib.loads(text)), why


@pytest.mark.parametrize("text", PARSER_ONLY)
def test_rules_only_the_parser_checks(text):
    assert not parser_ok(text) and schema_ok(tomllib.loads(text))


# how the parser words the rules of PARSER_ONLY / manifest_schema.NOT_EXPRESSED
PARSER_ONLY_MESSAGES = ("rise strictly", "last step must be 100", "shorter than interval", "at most",
                        "wildcards", "path/host values", "route the same requests", "no closing quotation",
                        "no escaped character", "invalid command: empty", "expected an integer")


@settings(max_examples=300)
@given(manifests)
def test_parser_and_schema_agree_on_generated_manifests(doc):
    """Accepted by the parser ⇒ valid for the schema; valid for the schema but refused by the
    parser ⇒ refused for one of the rules the schema cannot express."""
    text = "\n".join(f"{json.dumps(k)} = {toml_value(val)}" for k, val in doc.items())
    try:
        data = tomllib.loads(text)
    except ValueError:
        return
    try:
        parse_manifest(text)
    except UserError as e:
        if schema_ok(data):
            assert any(m in str(e) for m in PARSER_ONLY_MESSAGES), str(e)
    else:
        assert schema_ok(data), list(VALIDATOR.iter_errors(data))
