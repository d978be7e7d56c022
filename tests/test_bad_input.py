"""Bad input: one line on stderr, exit code 2, and nothing written to any table."""

from __future__ import annotations

import pytest

SHA = "sha256:" + "a" * 64


@pytest.fixture
def world(paas, staging, db):
    """staging + checkout with one release (so scale/rollback have something), and a strict env."""
    assert paas("deploy", "checkout", "--image", "nginx:1.25", "--env", "staging").code == 0
    assert paas("env", "create", "production", "--region", "us-east-1", "--cluster", "p",
                "--require-message").code == 0
    assert paas("config", "set", "checkout", "GOOD_KEY=1", "--env", "staging").code == 0
    return db


def snapshot(db) -> dict[str, tuple[int, str]]:
    """Row count and a checksum of every row, for every table in the schema."""
    tables = [r.tablename for r in db.all("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")]
    assert {"apps", "environments", "releases", "deployments", "deployment_events", "work_queue",
            "config_versions", "images", "processes"} <= set(tables)
    out = {}
    for t in tables:
        r = db.one(f"SELECT count(*) AS n, md5(COALESCE(string_agg(x::text, '|' ORDER BY x::text), '')) AS h "
                   f"FROM {t} x")
        out[t] = (r.n, r.h)
    db.rollback()
    return out


def _problems(paas, db, args, expect_in: str | None = None) -> list[str]:
    """What is wrong with how `paas ARGS` refused its input (empty: refused correctly)."""
    before = snapshot(db)
    r = paas(*args)
    after = snapshot(db)
    what = " ".join(args)[:80]
    out = []
    if r.code != 2:
        out.append(f"{what}: exit {r.code}, expected 2 (stdout {r.out!r}, stderr {r.err!r})")
    lines = r.err.strip("\n").split("\n")
    if len(lines) != 1 or not lines[0].startswith("paas: ") or not r.err.endswith("\n") or "Traceback" in r.err:
        out.append(f"{what}: stderr is not one 'paas: ...' line: {r.err!r}")
    if r.out:
        out.append(f"{what}: printed to stdout: {r.out!r}")
    if expect_in and expect_in not in r.err:
        out.append(f"{what}: {expect_in!r} not in {r.err!r}")
    if after != before:
        changed = sorted(t for t in after if after[t] != before.get(t))
        out.append(f"{what}: wrote to {changed}")
    return out


def _check_all(paas, db, cases) -> None:
    """Every case, one database (fast); all failures reported together."""
    problems = [p for args, expect in cases for p in _problems(paas, db, args, expect)]
    assert not problems, "\n".join(problems)


NAMES = [
    (["apps", "create", "Checkout"], "invalid app name"),
    (["apps", "create", "1checkout"], "invalid app name"),
    (["apps", "create", "a" * 31], "invalid app name"),
    (["apps", "create", "check_out"], "invalid app name"),
    (["apps", "create", "-x"], None),  # click reads it as an option: still a usage error, exit 2
    (["env", "create", "Prod", "--region", "r", "--cluster", "c"], "invalid environment name"),
    (["env", "create", "prod env", "--region", "r", "--cluster", "c"], "invalid environment name"),
    (["deploy", "Checkout", "--image", "nginx", "--env", "staging"], "invalid app name"),
    (["deploy", "checkout", "--image", "nginx", "--env", "Staging"], "invalid environment name"),
    (["deploy", "checkout", "--image", "nginx", "--env", "nowhere"], "no environment named 'nowhere'"),
    (["deploy", "ghost", "--image", "nginx", "--env", "staging"], "no app named 'ghost'"),
    (["deploy", "checkout", "--image", "nginx"], "no environment given"),
    (["scale", "Checkout", "web=2", "--env", "staging"], "invalid app name"),
    (["releases", "bad_name"], "invalid app name"),
    (["status", "checkout", "--env", "BAD"], "invalid environment name"),
]

IMAGES = ["nginx:", "NGINX", "nginx@sha256:abc", "-nginx", "nginx:tag with space", "registry.example.com/",
          "nginx::1", ":1.0", "nginx@sha256:" + "G" * 64, "Foo/bar:1", "nginx:" + "t" * 129, "a" * 256,
          "nginx@" + SHA.upper(), "", "ngi nx", "nginx:-tag", "nginx/", "/nginx", "nginx//x", "nginx@sha256",
          "shop:ü", "registry.example.com:99999999999/app:1"]


def test_invalid_names(paas, world):
    _check_all(paas, world, NAMES)


def test_malformed_image_references(paas, world):
    _check_all(paas, world, [(["deploy", "checkout", "--image", image, "--env", "staging"], "image")
                             for image in IMAGES])


BAD_MANIFESTS = {
    "not toml": ("[processes.web\nport = 80", "not valid TOML"),
    "unknown top-level key": ("typo = 1", "unknown key"),
    "unknown process key": ("[processes.web]\nprt = 8080", "unknown key processes.web.'prt'"),
    "processes not a table": ("processes = 5", "[processes] must be a table"),
    "bad process name": ("[processes.Web]\nport = 80", "invalid process name"),
    "fargate 256/4096": ("[processes.web]\ncpu = 256\nmemory = 4096", "cpu/memory pair 256/4096"),
    "fargate 1024/1024": ("[processes.web]\ncpu = 1024\nmemory = 1024", "cpu/memory pair 1024/1024"),
    "fargate 4096/31744": ("[processes.web]\ncpu = 4096\nmemory = 31744", "cpu/memory pair"),
    "fargate 16384/36864": ("[processes.web]\ncpu = 16384\nmemory = 36864", "cpu/memory pair"),
    "fargate cpu 300": ("[processes.web]\ncpu = 300\nmemory = 512", "invalid cpu 300"),
    "fargate cpu string": ("[processes.web]\ncpu = \"256\"", "invalid cpu"),
    "fargate memory float": ("[processes.web]\ncpu = 256\nmemory = 512.0", "invalid memory"),
    "port 0": ("[processes.web]\nport = 0", "invalid port 0"),
    "port 65536": ("[processes.web]\nport = 65536", "invalid port 65536"),
    "port -1": ("[processes.web]\nport = -1", "invalid port -1"),
    "port string": ("[processes.web]\nport = \"80\"", "invalid port"),
    "count negative": ("[processes.web]\ncount = -1", "invalid count"),
    "health check not a path": ("[processes.web]\nhealth_check_path = \"health\"", "health_check_path"),
    "canary steps falling": ("[strategy]\ncanary_steps = [50, 10]", "canary steps"),
    "canary steps not ending at 100": ("[strategy]\ncanary_steps = [10, 50]", "last step must be 100"),
    "strategy unknown": ("[strategy]\ndefault = \"yolo\"", "invalid strategy"),
    "bake nonsense": ("[strategy]\nbake = \"soon\"", "invalid bake time"),
    "bake nan": ("[strategy]\nbake = nan", "invalid bake time"),
    "paths not a list": ("[routing]\npaths = \"/a\"", "routing.paths"),
    "too many paths": ("[routing]\npaths = [\"/a\", \"/b\", \"/c\", \"/d\", \"/e\", \"/f\"]", "routing.paths"),
    "type unknown": ("type = \"lambda\"", "invalid app type"),
    "huge integer": ("[processes.web]\nport = " + "9" * 5000, "not valid TOML"),
    "nested 100000 deep": ("x = " + "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    "NUL in command": ("[processes.web]\ncommand = \"run\\u0000\"", "control character"),
    "unclosed quote": ("[processes.web]\ncommand = \"sh -c 'x\"", "no closing quotation"),
    "timeout not below interval": ("[processes.web]\nport = 80\n[processes.web.health_check]\ntimeout = 30",
                                   "shorter than interval"),
    "two web processes, one route": ("[processes.web]\nport = 80\n[processes.api]\nport = 81",
                                     "route the same requests"),
    "host without a dot": ("[routing]\nhost = \"localhost\"", "routing.host"),
}


def test_malformed_manifests(paas, world, tmp_path):
    cases = []
    for i, (name, (text, expect)) in enumerate(BAD_MANIFESTS.items()):
        path = tmp_path / f"m{i}" / "paas.toml"
        path.parent.mkdir()
        path.write_text(text)
        cases.append((["deploy", "checkout", "--image", "nginx:2", "--env", "staging", "--manifest", str(path)],
                      expect))
    cases.append((["deploy", "checkout", "--image", "nginx:2", "--env", "staging", "--manifest",
                   str(tmp_path / "nope.toml")], "nope.toml"))
    _check_all(paas, world, cases)


def test_malformed_manifest_in_current_directory(paas, world, tmp_path, monkeypatch):
    (tmp_path / "paas.toml").write_text("[processes.web]\nport = 70000\n")
    monkeypatch.chdir(tmp_path)
    _check_all(paas, world, [(["deploy", "checkout", "--image", "nginx:2", "--env", "staging"],
                              "invalid port 70000")])


REQUESTS = [
    (["scale", "checkout", "nope=2", "--env", "staging"], "unknown process 'nope'"),
    (["scale", "checkout", "web=2", "worker=1", "--env", "staging"], "unknown process 'worker'"),
    (["scale", "checkout", "web=-1", "--env", "staging"], "invalid scale argument"),
    (["scale", "checkout", "web=x", "--env", "staging"], "invalid scale argument"),
    (["scale", "checkout", "web", "--env", "staging"], "invalid scale argument"),
    (["scale", "checkout", "web=1001", "--env", "staging"], "invalid count"),
    (["scale", "checkout", "web=²", "--env", "staging"], "invalid scale argument"),
    (["rollback", "checkout", "--to", "v99", "--env", "staging"], "no release v99"),
    (["rollback", "checkout", "--to", "v0", "--env", "staging"], "invalid release"),
    (["rollback", "checkout", "--to", "latest", "--env", "staging"], "invalid release"),
    (["rollback", "checkout", "--env", "production", "-m", "x"], "no release in production"),
    (["config", "set", "checkout", "1BAD=x", "--env", "staging"], "invalid config key '1BAD'"),
    (["config", "set", "checkout", "BAD-KEY=x", "--env", "staging"], "invalid config key 'BAD-KEY'"),
    (["config", "set", "checkout", "=x", "--env", "staging"], "invalid config key ''"),
    (["config", "set", "checkout", "NOEQUALS", "--env", "staging"], "expected KEY=VALUE"),
    (["config", "set", "checkout", "OK=1", "bad key=2", "--env", "staging"], "invalid config key 'bad key'"),
    (["config", "set", "checkout", "A=1", "A=2", "--env", "staging"], "given twice"),
    (["config", "unset", "checkout", "bad.key", "--env", "staging"], "invalid config key"),
    (["config", "unset", "checkout", "NOT_SET", "--env", "staging"], "is not set"),
    (["deploy", "checkout", "--image", "nginx:2", "--env", "production"], "requires a message"),
    (["deploy", "checkout", "--image", "nginx:2", "--env", "production", "-m", "  "], "requires a message"),
    (["deploy", "checkout", "--image", "nginx:2", "--env", "staging", "--strategy", "yolo"], "yolo"),
    (["deploy", "checkout", "--image", "nginx:2", "--env", "staging", "-s", "canary", "--steps", "50,10"],
     "canary steps"),
    (["deploy", "checkout", "--image", "nginx:2", "--env", "staging", "-s", "canary", "--steps", "10,x"],
     "invalid --steps"),
    (["deploy", "checkout", "--image", "nginx:2", "--env", "staging", "--steps", "10,100"], "apply to"),
    (["deploy", "checkout", "--image", "nginx:2", "--env", "staging", "-s", "canary", "--pause-at", "30"],
     "--pause-at"),
    (["history", "--since", "soon"], "invalid --since"),
    (["history", "--since", "7y"], "invalid --since"),
    (["history", "--since", "999999999w"], "at most 10 years"),
    (["config", "set", "checkout", "BIG=" + "x" * 40000, "--env", "staging"], "at most 32768"),
    (["history", "--limit", "-1"], "invalid --limit"),
    (["history", "ghost"], "no app named 'ghost'"),
    (["deployments", "show", "abc"], "not a valid integer"),
    (["deployments", "show", "424242"], "no deployment 424242"),
    (["deployments", "cancel", "424242"], "no deployment 424242"),
    (["apps", "create", "x", "--type", "lambda"], "lambda"),
    (["nonsense-command"], "No such command"),
]


def test_bad_requests(paas, world):
    _check_all(paas, world, REQUESTS)


def test_the_checker_sees_writes_and_wrong_exit_codes(paas, world):
    """So that the tests above can fail."""
    found = _problems(paas, world, ["deploy", "checkout", "--image", "nginx:2", "--env", "production", "-m", "ok"])
    assert any("exit 0" in p for p in found) and any("wrote to" in p for p in found)


def test_bad_input_through_a_real_process(world, db_url):
    from tests.conftest import run_paas_process

    before = snapshot(world)
    r = run_paas_process("deploy", "checkout", "--image", "NOT/valid", "--env", "staging")
    assert r.code == 2 and r.out == ""
    assert r.err.count("\n") == 1 and r.err.startswith("paas: invalid image reference")
    assert snapshot(world) == before
