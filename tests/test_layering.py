"""The package layering of DESIGN.md §5: import-linter's contracts (pyproject.toml), string
imports and SQL literals on the source (ast), and what a real `paas deploy` imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAAS = ROOT / "paas"

# `paas dev` is the one command whose job is to start the dev stack; it may import it (lazily).
DEVSTACK_ENTRY_POINTS = {"paas/cli/dev.py"}


def imports_of(path: Path) -> set[str]:
    """Every module a file imports, anywhere in it (top level or inside functions)."""
    pkg = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    return imports_in(path.read_text(encoding="utf-8"), pkg)


def imports_in(source: str, pkg: str) -> set[str]:
    tree = ast.parse(source)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            out.add(str(node.args[0].value))
    return out


def sources():
    for path in sorted(PAAS.rglob("*.py")):
        yield path.relative_to(ROOT).as_posix(), imports_of(path)


def _hits(imports: set[str], banned: tuple[str, ...]) -> list[str]:
    return sorted(m for m in imports if any(m == b or m.startswith(b + ".") for b in banned))


def _lint_imports(config: Path | None = None) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("lint-imports")
    args = [str(exe), "--no-cache"] + (["--config", str(config)] if config else [])
    return subprocess.run(args, capture_output=True, text=True, cwd=str(ROOT), timeout=300)


def test_import_contracts_hold():
    p = _lint_imports()
    assert p.returncode == 0, p.stdout[-4000:] + p.stderr[-2000:]
    assert "0 broken" in p.stdout


def test_import_contracts_can_fail(tmp_path):
    """A contract the code breaks is reported (so the test above can fail)."""
    cfg = tmp_path / "contracts.ini"
    cfg.write_text("[importlinter]\nroot_package = paas\n\n[importlinter:contract:probe]\n"
                   "name = the CLI never touches the storage layer\ntype = forbidden\n"
                   "source_modules = paas.cli\nforbidden_modules = paas.db\n")
    p = _lint_imports(cfg)
    assert p.returncode != 0 and "BROKEN" in p.stdout.upper(), p.stdout[-2000:]


# SQL is written in upper case here, which prose is not
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b", re.S)


def sql_literals(source: str) -> list[str]:
    return [n.value[:60] for n in ast.walk(ast.parse(source))
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and SQL.search(n.value)]


@pytest.mark.parametrize("layer", ["paas/cli/", "paas/service/"])
def test_cli_and_service_write_no_sql(layer):
    bad = {str(p.relative_to(ROOT)): hits for p in sorted((ROOT / layer).rglob("*.py"))
           if (hits := sql_literals(p.read_text(encoding="utf-8")))}
    assert not bad, bad


def test_the_sql_check_sees_sql():
    assert sql_literals('q = """\n  SELECT a\n    FROM apps"""\nx = "select the app"')
    assert sql_literals('q = "UPDATE deployments SET state = 1"')
    assert not sql_literals('x = "select an app from the list"')


def test_product_code_never_imports_devstack():
    bad = {f: h for f, imps in sources()
           if not f.startswith("paas/devstack/") and f not in DEVSTACK_ENTRY_POINTS
           and (h := _hits(imps, ("paas.devstack",)))}
    assert not bad, bad


def test_the_checker_sees_imports():
    """Lazy, nested, relative and dynamic imports are all seen (so the tests above can fail)."""
    src = ("import os\n"
           "def f():\n    import boto3.session\n    from sqlalchemy import orm\n"
           "from ..devstack import sim\n"
           "import importlib\nimportlib.import_module('rich.console')\n")
    found = imports_in(src, "paas.cli")
    assert _hits(found, ("boto3",)) == ["boto3.session"]
    assert _hits(found, ("sqlalchemy",)) == ["sqlalchemy", "sqlalchemy.orm"]
    assert "paas.devstack" in found and "rich.console" in found


def _imported_modules(code: str, *args: str) -> set[str]:
    """Modules a fresh interpreter imports, from `python -X importtime`."""
    p = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *args], capture_output=True, text=True,
                       cwd=str(ROOT), timeout=60)
    mods = set()
    for line in p.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                mods.add(name)
    assert mods, p.stderr[-2000:]
    return mods


HEAVY = ("sqlalchemy", "boto3", "botocore", "rich", "alembic", "moto", "pydantic")


def test_request_module_import_closure_is_light():
    mods = _imported_modules("import paas.cli.requests")
    assert "paas.cli.requests" in mods
    assert not _hits(mods, HEAVY), _hits(mods, HEAVY)


def test_a_real_deploy_imports_nothing_heavy(paas, staging, db_url):
    """The whole `paas deploy` path, run for real against the test database."""
    code = ("import sys; from paas.cli.main import main; "
            "main(['deploy', 'checkout', '--image', 'nginx:1.27', '--env', 'staging'])")
    mods = _imported_modules(code)
    assert "psycopg2" in mods and "paas.service.releases" in mods  # it did reach the database
    assert not _hits(mods, HEAVY), _hits(mods, HEAVY)
    from paas.db.sql import connect

    d = connect(db_url)
    try:
        assert d.scalar("SELECT count(*) FROM deployments") == 1
    finally:
        d.close()
