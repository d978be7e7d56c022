"""The CLI as a Heroku or flyctl user meets it: help, suggestions, completion, tables that fit
the terminal, times with their zone, the app named by ./paas.toml, URLs after a deploy, secrets
that are never shown, the dev stack's environment, and one JSON shape for `--wait --json`."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone

import click
import pytest

from paas.cli.main import COMMANDS, cli
from paas.cli.table import Col, ago, cell_len, render
from tests.conftest import ROOT
from tests.test_history_cli import finish

LISTENER = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/edge/50dc6c495c0c9188/f2f7dc8efc522ab2"
NETWORK = ["--listener-arn", LISTENER, "--vpc-id", "vpc-12345678", "--subnets", "subnet-12345678",
           "--alb-security-group", "sg-12345678"]


# --------------------------------------------------------------------------- help

def every_command():
    """(path, command) for every command and group, sub-commands included."""
    ctx = click.Context(cli, info_name="paas")
    out = []

    def walk(group, prefix, parent):
        for name in group.list_commands(parent):
            cmd = group.get_command(parent, name)
            path = f"{prefix} {name}"
            out.append((path, cmd))
            if isinstance(cmd, click.Group):
                walk(cmd, path, click.Context(cmd, info_name=name, parent=parent))

    walk(cli, "paas", ctx)
    return out


COMMAND_PATHS = [p for p, _ in every_command()]


def test_every_command_is_listed():
    assert {p.split()[1] for p in COMMAND_PATHS} == set(COMMANDS)
    assert len(COMMAND_PATHS) > 40


@pytest.mark.parametrize("path", COMMAND_PATHS)
def test_every_command_has_an_example_and_every_option_a_help_text(path):
    cmd = dict(every_command())[path]
    if not isinstance(cmd, click.Group):
        assert "Example" in (cmd.help or ""), f"{path} has no example"
    for p in cmd.params:
        if isinstance(p, click.Option):
            assert p.help, f"{path} {p.opts[0]} has no help text"
            assert not (p.is_flag and p.required), f"{path} {p.opts[0]} is a flag marked [required]"


@pytest.mark.parametrize("path", [p for p, c in every_command() if isinstance(c, click.Group)] + ["paas"])
def test_summaries_are_whole_and_fit_80_columns(path, paas):
    r = paas(*path.split()[1:], "--help")
    assert r.code == 0
    group = cli if path == "paas" else dict(every_command())[path]
    listed = r.out.split("Commands:\n", 1)[1]
    for name in group.list_commands(click.Context(group)):
        first = (group.get_command(click.Context(group), name).help or "").strip().split("\n")[0]
        line = next(ln for ln in listed.splitlines() if ln.split()[0] == name)
        assert line.strip().endswith(first) and len(line) <= 80, (line, first)


def test_reconcile_once_is_not_marked_required(paas):
    r = paas("reconcile", "--help")
    assert "[required]" not in r.out and "--once" in r.out


def test_a_mistyped_command_gets_a_suggestion_at_every_level(paas):
    r = paas("deploi")
    assert r.code == 2 and r.err == "paas: No such command 'deploi'. Did you mean 'deploy'? (see: paas --help)\n"
    r = paas("secrets", "unsett")
    assert r.code == 2 and "'unset'" in r.err
    assert "Did you mean" not in paas("zzzz").err


# --------------------------------------------------------------------------- completion

@pytest.mark.parametrize("shell,marker", [("bash", "complete -o nosort -F"), ("zsh", "#compdef paas"),
                                          ("fish", "complete --no-files --command paas")])
def test_completion_scripts(paas, shell, marker):
    r = paas("completion", shell)
    assert r.code == 0 and marker in r.out and "_PAAS_COMPLETE" in r.out


def complete(words: str, db_url: str) -> list[str]:
    env = {**os.environ, "_PAAS_COMPLETE": "bash_complete", "COMP_WORDS": words,
           "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)), "PAAS_DATABASE_URL": db_url}
    p = subprocess.run([sys.executable, "-m", "paas.cli.main"], env=env, capture_output=True, text=True,
                       cwd=str(ROOT), timeout=60)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return [line.split(",", 1)[1] for line in p.stdout.splitlines()]


def test_completion_of_commands_apps_and_environments(paas, staging, db_url):
    assert paas("apps", "create", "cart").code == 0
    assert complete("paas dep", db_url) == ["deploy", "deployments"]
    assert complete("paas deploy c", db_url) == ["cart", "checkout"]
    assert complete("paas deploy checkout --env st", db_url) == ["staging"]
    assert complete("paas status ca", db_url) == ["cart"]


def test_completion_is_silent_without_a_database(tmp_path):
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PAAS_")}, "PAAS_HOME": str(tmp_path),
           "_PAAS_COMPLETE": "bash_complete", "COMP_WORDS": "paas deploy c", "COMP_CWORD": "2"}
    p = subprocess.run([sys.executable, "-m", "paas.cli.main"], env=env, capture_output=True, text=True,
                       cwd=str(ROOT), timeout=60)
    assert p.returncode == 0 and p.stdout.strip() == "" and p.stderr == ""
    assert not (tmp_path / "pgdata").exists()  # completion never starts the embedded server


# --------------------------------------------------------------------------- tables

LONG_IMAGE = "registry.example.com/storefront/checkout:1.4.2-rc1"


@pytest.fixture
def busy(paas, staging, db, monkeypatch):
    """Releases with long images, actors and messages, in every state."""
    ids = []
    for i, (actor, msg) in enumerate([("alice@laptop.example.com", "new basket with a longer message than fits"),
                                      ("ci-bot@build-runner-17.internal", "nightly"),
                                      ("bob@example.com", "faster search, fixed at last")]):
        r = paas("deploy", "checkout", "--image", f"{LONG_IMAGE}.{i}", "-e", "staging", "-m", msg,
                 "--actor", actor, "--json")
        assert r.code == 0, r.err
        ids.append(r.json()["deployment_id"])
        finish(db, ids[-1], ("rolled_back", "succeeded", "succeeded")[i], known_good=i == 1,
               rolled_back_to=None)
    sha = "sha256:" + "c" * 64
    r = paas("deploy", "checkout", "--image", f"registry.example.com/checkout@{sha}", "-e", "staging", "--json")
    ids.append(r.json()["deployment_id"])
    return ids


TABLES = [["history"], ["history", "checkout"], ["releases", "checkout"], ["apps", "list"], ["env", "list"],
          ["config", "show", "checkout", "-e", "staging"], ["secrets", "list", "checkout", "-e", "staging"]]


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("args", TABLES, ids=" ".join)
def test_tables_fit_the_width_and_never_cut_what_identifies_a_row(paas, busy, monkeypatch, width, args):
    monkeypatch.setenv("COLUMNS", str(width))
    r = paas(*args)
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines and all(cell_len(ln) <= width for ln in lines), "\n" + r.out
    if args[0] in ("history", "releases"):
        rows = lines[1:]
        assert [ln.split()[1 if args[0] == "releases" else 3] for ln in rows] == ["v4", "v3", "v2", "v1"]
        for tag in (".2", ".1", ".0"):  # image tags whole
            assert any(f"checkout:1.4.2-rc1{tag}" in ln for ln in rows), r.out
        assert "@sha256:cccccccc" in rows[0]
        states = {"history": ["pending", "succeeded", "succeeded", "rolled_back"],
                  "releases": ["pending", "succeeded", "succeeded", "rolled_back"]}[args[0]]
        assert [ln.split()[-1] if args[0] == "releases" else ln.split()[5] for ln in rows] == states, r.out


def test_piped_tables_without_a_width_keep_every_value_whole(paas, busy):
    r = paas("history", "checkout")
    assert f"{LONG_IMAGE}.2" in r.out and "new basket with a longer message than fits" in r.out
    assert "ci-bot@build-runner-17.internal" in r.out and "…" not in r.out


def test_timestamps_show_their_zone_when_piped(paas, busy):
    r = paas("releases", "checkout")
    created = datetime.now().astimezone().isoformat(sep=" ", timespec="seconds")[:10]
    assert created in r.out
    offset = datetime.now().astimezone().isoformat()[-6:]  # e.g. +00:00
    assert offset in r.out


def test_relative_times_on_a_terminal():
    now = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
    assert ago(now - timedelta(minutes=5, seconds=3), now) == "5m ago"
    assert ago(now - timedelta(hours=3), now) == "3h ago"
    assert ago(now - timedelta(days=2, hours=5), now) == "2d ago"
    assert ago(now - timedelta(days=30), now) == (now - timedelta(days=30)).astimezone().strftime("%Y-%m-%d")
    lines = render([Col("created")], [[now - timedelta(seconds=40)]], relative=True)
    assert lines[1].endswith("ago")


def test_columns_give_way_in_their_order():
    cols = [Col("id", keep=True), Col("image", image=True), Col("message", floor=6, drop=1),
            Col("extra", drop=2)]
    rows = [[1, "registry.example.com/team/app:1.2.3", "a long message here", "xxxxxxxxxxxx"]]
    assert render(cols, rows, 200)[1].split() == ["1", "registry.example.com/team/app:1.2.3", "a", "long",
                                                   "message", "here", "xxxxxxxxxxxx"]
    assert "EXTRA" in render(cols, rows, 40)[0]  # the floors fit: columns shrink before any is dropped
    narrow = render(cols, rows, 30)
    assert all(cell_len(ln) <= 30 for ln in narrow)
    assert "EXTRA" not in narrow[0] and "/app:1.2.3" in narrow[1] and "…" in narrow[1]
    tiny = render(cols, rows, 10)  # nothing left to give: what identifies the row stays whole
    assert tiny[1].split() == ["1", "…/app:1.2.3"]


def test_output_never_shows_raw_control_characters(paas, staging):
    assert paas("config", "set", "checkout", "PEM=-----BEGIN\nabc\x1b[2J", "-e", "staging").code == 0
    r = paas("config", "show", "checkout", "-e", "staging")
    assert "\x1b" not in r.out and "-----BEGIN\\nabc\\x1b[2J" in r.out


# --------------------------------------------------------------------------- wording

def test_requests_say_which_number_is_the_deployment_and_which_the_release(paas, staging):
    r = paas("deploy", "checkout", "--image", "shop:1", "-e", "staging")
    assert r.out == "deployment #1 requested: checkout release v1 to staging (rolling)\n"
    r = paas("deploy", "checkout", "--image", "shop:2", "-e", "staging")
    assert r.out == "deployment #2 requested: checkout release v2 to staging (rolling; supersedes deployment #1)\n"


def test_abort_records_who_asked(paas, staging, db):
    dep = paas("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--json").json()["deployment_id"]
    db.execute("UPDATE deployments SET state = 'in_progress', started_at = now() WHERE id = %(i)s", i=dep)
    db.commit()
    assert paas("abort", "checkout", "-e", "staging", "--actor", "carol@ops").code == 0
    shown = paas("deployments", "show", str(dep))
    assert "abort requested by carol@ops" in shown.out and "abort asked:" in shown.out


# --------------------------------------------------------------------------- the app of ./paas.toml

def test_commands_take_the_app_from_paas_toml(paas, staging, tmp_path, monkeypatch):
    (tmp_path / "paas.toml").write_text('app = "checkout"\n[processes.web]\nport = 8080\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PAAS_ENV", "staging")
    assert paas("deploy", "--image", "shop:1").out.startswith("deployment #1 requested: checkout release v1")
    assert "release v2" in paas("config", "set", "A=1", "B=2").out
    assert "release v3" in paas("config", "unset", "A").out
    assert "release v4" in paas("scale", "web=2").out
    assert paas("status", "--json").json()["app"] == "checkout"
    assert [r["version"] for r in paas("releases", "--json").json()] == [4, 3, 2, 1]
    assert paas("config", "show", "--json").json()["vars"] == {"B": "2"}
    # naming the app still works, and wins
    assert paas("apps", "create", "cart").code == 0
    r = paas("deploy", "cart", "--image", "shop:1")
    assert r.code == 2 and "paas.toml is for app 'checkout', not 'cart'" in r.err  # this folder's manifest
    assert "release v5" in paas("config", "set", "checkout", "C=3").out


def test_without_an_app_anywhere_the_error_says_how_to_name_it(paas, staging, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = paas("status", "-e", "staging")
    assert r.code == 2 and r.err.startswith("paas: no app given") and 'app = "NAME"' in r.err


# --------------------------------------------------------------------------- URLs

def test_a_deploy_prints_the_url_and_paas_open_finds_it(paas, staging, tmp_path, monkeypatch):
    assert paas("env", "create", "prod", "--region", "us-east-1", "--cluster", "p", *NETWORK,
                "--app-domain", "prod.example.com").code == 0
    r = paas("deploy", "checkout", "--image", "shop:1", "-e", "prod")
    assert r.code == 0 and r.out.splitlines()[-1] == "https://checkout.prod.example.com/"
    assert paas("open", "checkout", "-e", "prod", "--print").out == "https://checkout.prod.example.com/\n"
    (tmp_path / "paas.toml").write_text('[routing]\nhost = "Shop.Example.com"\npaths = ["/checkout/*"]\n')
    monkeypatch.chdir(tmp_path)
    r = paas("deploy", "checkout", "--image", "shop:2", "-e", "prod", "--json")
    assert r.json()["urls"] == {"web": "https://shop.example.com/checkout/"}
    assert paas("open", "checkout", "-e", "prod", "--json").json()["urls"] == {"web": "https://shop.example.com/checkout/"}
    # no host and no app domain: no URL to print, and `open` says why
    monkeypatch.chdir(tmp_path / "..")
    r = paas("deploy", "checkout", "--image", "shop:1", "-e", "staging")
    assert r.code == 0 and "http" not in r.out
    r = paas("open", "checkout", "-e", "staging")
    assert r.code == 2 and "no URL" in r.err


# --------------------------------------------------------------------------- secrets and config

def test_config_show_marks_secrets_and_never_prints_their_values(paas, staging, db):
    from paas.service.releases import change_config

    assert paas("config", "set", "checkout", "PLAIN=visible", "-e", "staging").code == 0
    with db.transaction():
        change_config(db, "checkout", "staging", actor="t@t", kind="secret",
                      secrets={"DB_PASSWORD": {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
                                               "version": "v-1"}})
    r = paas("config", "show", "checkout", "-e", "staging")
    rows = {ln.split()[0]: ln.split()[1:] for ln in r.out.splitlines()[2:]}
    assert rows["PLAIN"][:2] == ["visible", "-"] and rows["DB_PASSWORD"][:2] == ["(hidden)", "yes"]
    assert paas("config", "show", "checkout", "-e", "staging", "--json").json()["secrets"] == {
        "DB_PASSWORD": {"arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x", "version": "v-1"}}
    # config unset refuses a secret; secrets unset removes the reference, and only that
    r = paas("config", "unset", "checkout", "DB_PASSWORD", "-e", "staging")
    assert r.code == 2 and "paas secrets unset checkout DB_PASSWORD" in r.err
    r = paas("secrets", "unset", "checkout", "DB_PASSWORD", "-e", "staging", "-m", "rotated out")
    assert r.code == 0, r.err
    cfg = paas("config", "show", "checkout", "-e", "staging", "--json").json()
    assert cfg["secrets"] == {} and cfg["vars"] == {"PLAIN": "visible"}
    r = paas("secrets", "unset", "checkout", "PLAIN", "-e", "staging")
    assert r.code == 2 and "plain variable" in r.err


# --------------------------------------------------------------------------- the dev stack's environment

def test_the_running_dev_stacks_environment_is_the_default(paas, staging, db_url, monkeypatch):
    home = os.environ["PAAS_HOME"]
    os.makedirs(home, exist_ok=True)
    state = {"pid": os.getpid(), "database_url": db_url, "env": "staging"}
    with open(os.path.join(home, "dev-state.json"), "w") as f:
        json.dump(state, f)
    r = paas("deploy", "checkout", "--image", "shop:1")
    assert r.code == 0 and "to staging" in r.out
    monkeypatch.setenv("PAAS_ENV", "nowhere")  # $PAAS_ENV still comes first
    assert "no environment named 'nowhere'" in paas("deploy", "checkout", "--image", "shop:1").err
    monkeypatch.delenv("PAAS_ENV")
    state["database_url"] = "postgresql://elsewhere/paas"  # another database: its environments are not ours
    with open(os.path.join(home, "dev-state.json"), "w") as f:
        json.dump(state, f)
    assert "no environment given" in paas("deploy", "checkout", "--image", "shop:1").err


# --------------------------------------------------------------------------- JSON shapes

def test_wait_json_is_the_deployments_show_document(paas, staging, db):
    from paas.cli.follow import follow

    dep = paas("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--json").json()["deployment_id"]
    finish(db, dep)
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert follow(dep, as_json=True) == 0
    assert json.loads(buf.getvalue()) == paas("deployments", "show", str(dep), "--json").json()


def test_release_numbers_are_integers_in_every_json_document(paas, staging, db):
    dep = paas("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--json").json()
    finish(db, dep["deployment_id"], known_good=True)
    docs = [dep, paas("history", "--json").json(), paas("releases", "checkout", "--json").json(),
            paas("status", "checkout", "-e", "staging", "--json").json(),
            paas("apps", "show", "checkout", "--json").json(),
            paas("deployments", "show", str(dep["deployment_id"]), "--json").json()]

    def walk(x, key=""):
        if isinstance(x, dict):
            for k, val in x.items():
                walk(val, k)
        elif isinstance(x, list):
            for val in x:
                walk(val, key)
        elif isinstance(x, str):
            assert not (x.startswith("v") and x[1:].isdigit()), f"{key} = {x!r}"
        if key in ("release_version", "version"):
            assert isinstance(x, int), (key, x)

    walk(docs)


# --------------------------------------------------------------------------- paas.toml schema

def test_manifest_schema_prints_the_generated_schema(paas):
    from paas.domain.manifest_schema import schema

    r = paas("manifest", "schema")
    assert r.code == 0 and json.loads(r.out) == schema()


def test_manifest_check(paas, tmp_path):
    good = tmp_path / "paas.toml"
    good.write_text('app = "shop"\n[processes.web]\nport = 8080\n[processes.worker]\ncommand = "celery worker"\n')
    r = paas("manifest", "check", str(good))
    assert r.code == 0 and r.out == f"{good}: ok, app shop; processes: web (port 8080), worker; strategy rolling\n"
    assert paas("manifest", "check", str(good), "--json").json()["app"] == "shop"
    good.write_text("[processes.web]\nport = 0\n")
    r = paas("manifest", "check", str(good))
    assert r.code == 2 and "invalid port 0" in r.err


def test_aws_request_ids_only_with_verbose(paas, staging, db):
    from contextlib import redirect_stderr

    from paas.cli.follow import follow

    dep = paas("deploy", "checkout", "--image", "shop:1", "-e", "staging", "--json").json()["deployment_id"]
    db.execute("INSERT INTO deployment_events (deployment_id, kind, step, message, aws_request_id) "
               "VALUES (%(d)s, 'step', 'create-stack', 'create the infrastructure stack', 'req-8zqWGPKjzk88')", d=dep)
    db.commit()
    finish(db, dep)
    for verbose in (False, True):
        err = io.StringIO()
        with redirect_stderr(err), redirect_stdout(io.StringIO()):
            assert follow(dep, verbose=verbose) == 0
        assert ("AWS request req-8zqWGPKjzk88" in err.getvalue()) is verbose, err.getvalue()
        assert "create the infrastructure stack" in err.getvalue()
    assert "AWS request req-8zqWGPKjzk88" in paas("deployments", "show", str(dep)).out
