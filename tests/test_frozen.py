"""The plain frozen classes on the request path behave as the frozen dataclasses they replaced."""

from __future__ import annotations

import copy
import pickle
from dataclasses import FrozenInstanceError
from datetime import datetime, timezone

import pytest

from paas.db.queue import Claim
from paas.db.records import BaseRelease, ProcessRecord, ReleaseRecord, of
from paas.domain.health import HealthCheck
from paas.domain.image import image_ref
from paas.domain.manifest import StrategyDefaults
from paas.domain.routing import Routing, Rule

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def release(version: int = 1) -> ReleaseRecord:
    return ReleaseRecord(1, version, "deploy", "nginx:1", 2, None, 3, {"web": {"count": 1}}, {}, None, None)


def test_equality_is_by_value_and_class():
    assert ProcessRecord("web", None, 8080, "/") == ProcessRecord(name="web", command=None, port=8080,
                                                                  health_check_path="/")
    assert ProcessRecord("web", None, 8080, "/") != ProcessRecord("web", None, 8081, "/")
    assert ProcessRecord("web", None, 8080, "/") != ("web", None, 8080, "/")
    assert HealthCheck() == HealthCheck(grace_period=60) != HealthCheck(grace_period=61)


def test_hash_follows_equality_and_unhashable_fields_refuse_as_dataclasses_do():
    assert hash(image_ref("nginx:1")) == hash(image_ref("nginx:1"))
    assert len({StrategyDefaults(), StrategyDefaults(), StrategyDefaults(default="canary")}) == 2
    with pytest.raises(TypeError):
        hash(release())  # formation is a dict


def test_fields_cannot_be_assigned_or_deleted():
    c = Claim(1, 2, 3, T0, 0, False)
    with pytest.raises(FrozenInstanceError):
        c.token = 4  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del c.token
    assert c.token == 3 and c.key == "1:2"


def test_repr_names_every_field_and_copies_round_trip():
    b = BaseRelease(release(), 7, "succeeded", "rolling")
    assert repr(b).startswith("BaseRelease(release=ReleaseRecord(id=1, version=1,")
    assert copy.deepcopy(b) == b and pickle.loads(pickle.dumps(b)) == b and b.live


def test_rule_specificity_is_derived_and_left_out_of_equality():
    r = Rule(10, Routing(("/api/*",), None), "shop/prod/api")
    assert r.specificity and r == Rule(10, Routing(("/api/*",), None), "shop/prod/api")
    assert copy.copy(r).specificity == r.specificity


def test_of_builds_a_record_from_a_row_and_names_a_missing_column():
    row = {"name": "web", "command": None, "port": 8080, "health_check_path": "/", "extra": 1}
    assert of(ProcessRecord, row) == ProcessRecord("web", None, 8080, "/")
    with pytest.raises(KeyError, match="port"):
        of(ProcessRecord, {"name": "web", "command": None, "health_check_path": "/"})
