"""Concepts defined once in paas/domain and used, not copied, elsewhere (DESIGN.md §7)."""

from __future__ import annotations

from paas.domain import gc_policy, names, specs
from paas.domain import validate as v
from paas.planner import gc, infra_template


def test_strategy_names_have_one_definition():
    from paas.db import models
    from paas.planner import plan

    assert set(plan.RECIPES) == set(v.STRATEGIES)
    assert tuple(models.STRATEGIES) == v.STRATEGIES


def test_gc_policy_lives_in_the_domain_and_the_planner_uses_it():
    assert gc.GcPolicy is gc_policy.GcPolicy
    assert gc.policy_for is gc_policy.policy_for and gc.validate_overrides is gc_policy.validate_overrides
    assert gc.DEFAULTS is gc_policy.DEFAULTS


def test_resource_names_have_one_definition():
    assert specs.stack_name is names.stack_name and specs.service_name is names.service_name
    assert specs.family is names.family and specs.COLOURS is names.COLOURS
    assert infra_template.log_group_name is names.log_group_name
    assert infra_template.secrets_prefix is names.secrets_prefix
