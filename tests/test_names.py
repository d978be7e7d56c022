"""Derived AWS names (paas/domain/names.py): never the same for different parts, always within AWS's rules."""

from __future__ import annotations

import re

from hypothesis import example, given
from hypothesis import strategies as st

from paas.domain import names

part = st.from_regex(r"\A[a-z][a-z0-9-]{0,29}\Z")
# names made mostly of dashes and short pieces collide most easily under a naive join
dashy = st.builds(lambda head, tail: (head + tail)[:30], st.sampled_from("abc"),
                  st.text(alphabet="-ab1", max_size=29))
names_ = part | dashy
colour = st.sampled_from(names.COLOURS)

STACK_RE = re.compile(r"[a-zA-Z][-a-zA-Z0-9]*")
ECS_RE = re.compile(r"[A-Za-z0-9_-]+")
LOG_GROUP_RE = re.compile(r"[.\-_/#A-Za-z0-9]+")
SSM_RE = re.compile(r"[a-zA-Z0-9_.\-/]+")
WORST = "a" + "-" * 29  # 30 characters, 29 of them doubled


def kinds(app: str, env: str, process: str, col: str) -> dict[str, str]:
    return {
        "stack": names.stack_name(app, env),
        "service": names.service_name(app, process, col),
        "family": names.family(app, env, process),
        "log group": names.log_group_name(app, env),
        "secrets": names.secrets_prefix(app, env),
    }


def test_parts_start_with_a_letter_which_is_what_makes_split_exact():
    """'-b' is not a valid name; with it, 'a-'+'b' and 'a'+'-b' would both join to 'a---b'."""
    assert names.join("a-", "b") == names.join("a", "-b")
    assert names.split("a---b") == ["a-", "b"]


def test_the_collision_the_old_join_had():
    assert names.service_name("shop", "api-web", "blue") != names.service_name("shop-api", "web", "blue")
    assert names.family("shop", "api-prod", "web") != names.family("shop-api", "prod", "web")
    assert names.stack_name("a-b", "c") != names.stack_name("a", "b-c")


def test_names_without_dashes_are_unchanged():
    assert names.stack_name("shop", "prod") == "paas-shop-prod"
    assert names.service_name("shop", "web", "blue") == "shop-web-blue"
    assert names.family("shop", "prod", "web") == "shop-prod-web"
    assert names.log_group_name("shop", "prod") == "/paas/prod/shop"


@given(st.lists(names_, min_size=1, max_size=4))
@example(["a-", "b"])
@example(["a--", "b---c", "d"])
def test_split_inverts_join(parts):
    assert names.split(names.join(*parts)) == parts


@given(names_, names_, names_, colour, names_, names_, names_, colour)
@example("shop", "prod", "api-web", "blue", "shop-api", "prod", "web", "blue")
@example("a-", "b", "c", "blue", "a", "b-", "c", "blue")
@example("a", "b-c", "d", "green", "a-b", "c", "d", "green")
def test_distinct_parts_never_share_a_name(a1, e1, p1, c1, a2, e2, p2, c2):
    k1, k2 = kinds(a1, e1, p1, c1), kinds(a2, e2, p2, c2)
    scope = {"stack": (a1, e1) != (a2, e2), "service": (a1, p1, c1) != (a2, p2, c2),
             "family": (a1, e1, p1) != (a2, e2, p2), "log group": (a1, e1) != (a2, e2),
             "secrets": (a1, e1) != (a2, e2)}
    for kind, different in scope.items():
        if different:
            assert k1[kind] != k2[kind], kind
        else:
            assert k1[kind] == k2[kind], kind


@given(names_, names_, names_, colour)
@example(WORST, WORST, WORST, "green")
def test_every_name_satisfies_aws_rules(app, env, process, col):
    k = kinds(app, env, process, col)
    assert STACK_RE.fullmatch(k["stack"]) and len(k["stack"]) <= 128
    assert ECS_RE.fullmatch(k["service"]) and len(k["service"]) <= 255
    assert ECS_RE.fullmatch(k["family"]) and len(k["family"]) <= 255
    assert ECS_RE.fullmatch(names.container_name(process)) and len(process) <= 255
    assert LOG_GROUP_RE.fullmatch(k["log group"]) and len(k["log group"]) <= 512
    assert SSM_RE.fullmatch(names.secret_parameter(app, env, "DB_PASSWORD_" + "X" * 100))
    assert len(names.secret_parameter(app, env, "X" * 128)) <= 1011


def test_worst_case_lengths():
    assert len(names.stack_name(WORST, WORST)) == 124
    assert len(names.service_name(WORST, WORST, "green")) == 125
    assert len(names.family(WORST, WORST, WORST)) == 179


@given(names_, names_, names_, names_, names_)
def test_process_of_family_finds_only_its_own(app, env, process, other_app, other_env):
    fam = names.family(app, env, process)
    assert names.process_of_family(app, env, fam) == process
    if (other_app, other_env) != (app, env):
        assert names.process_of_family(other_app, other_env, fam) is None
