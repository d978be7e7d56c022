"""The manifest snapshot stored on every release: today's shape round-trips, older ones still load."""

from __future__ import annotations

import json

from paas.domain.health import HealthCheck
from paas.domain.manifest import Manifest, ProcessSpec, Routing, parse_manifest

# what releases stored before health checks, per-process routing and `app` existed
OLD_SNAPSHOT = {
    "app_type": "web",
    "processes": {
        "web": {"name": "web", "command": "gunicorn app:wsgi", "port": 8080, "cpu": 512, "memory": 1024,
                "count": 2, "health_check_path": "/healthz"},
        "worker": {"name": "worker", "command": "celery worker", "port": None, "cpu": 256, "memory": 512,
                   "count": 1, "health_check_path": "/"},
    },
    "routing": {"paths": ["/checkout/*"], "host": "shop.example.com"},
    "strategy": {"default": "canary", "canary_steps": [10, 50, 100], "bake_seconds": 300.0,
                 "step_deadline_seconds": None, "max_5xx_rate": 0.01, "max_p99_ms": 800.0, "max_p99_ratio": 2.0,
                 "min_requests": 20},
}


def test_an_old_snapshot_loads_with_default_health_checks():
    m = Manifest.from_json(OLD_SNAPSHOT)
    web = m.processes["web"]
    assert web.health_check_path == "/healthz" and web.health_check == HealthCheck()
    assert web.health_check.grace_period == 60  # slow starters are no longer killed at once
    assert web.routing is None and m.route("web") == Routing(("/checkout/*",), "shop.example.com")
    assert m.app is None and m.strategy.canary_steps == (10, 50, 100)


def test_todays_snapshot_round_trips_through_json():
    m = parse_manifest("""
app = "shop"
[processes.web]
port = 8080
[processes.web.health_check]
path = "/ready"
grace_period = "3m"
healthy_codes = "200-299"
[processes.api]
port = 9000
[processes.api.routing]
paths = ["/api/*"]
""")
    j = json.loads(json.dumps(m.to_json()))
    assert j["processes"]["web"]["health_check"]["grace_period"] == 180
    assert j["processes"]["web"]["health_check_path"] == "/ready"
    assert j["processes"]["api"]["routing"] == {"paths": ["/api/*"], "host": None}
    assert j["processes"]["web"]["routing"] is None and j["app"] == "shop"
    assert Manifest.from_json(j) == m


def test_the_old_shape_is_a_subset_of_the_new():
    new = Manifest.from_json(OLD_SNAPSHOT).to_json()
    for name, proc in OLD_SNAPSHOT["processes"].items():
        assert {k: new["processes"][name][k] for k in proc} == proc
    assert ProcessSpec.from_json(OLD_SNAPSHOT["processes"]["worker"]).is_web is False
