"""Schedule expressions as EventBridge Scheduler reads them, and the names derived for jobs and tasks."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from paas.domain import names, schedule
from paas.domain.errors import UserError

UTC = timezone.utc


@pytest.mark.parametrize("expr", ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)",
                                  "rate(1 day)", "cron(0 3 * * ? *)", "cron(15 10 ? * MON-FRI *)",
                                  "cron(0/15 * * * ? *)", "cron(0 8 1 JAN-MAR ? 2027)", "cron(0 12 ? * 6#3 *)",
                                  "cron(0 18 L * ? *)"])
def test_expressions_scheduler_accepts(expr):
    assert schedule.expression(expr) == expr


@pytest.mark.parametrize("expr,why", [
    ("rate(0 minutes)", "rate(1 minute)"), ("rate(1 minutes)", "rate(1 minute)"), ("rate(5 hour)", "at least 2"),
    ("rate(1 week)", "expected rate"), ("cron(0 3 * * *)", "six fields"), ("cron(0 3 * * * *)", "'?'"),
    ("cron(0 3 ? * ? *)", "only one"), ("cron(61 3 * * ? *)", "out of range"), ("cron(0 3 * * ? *) ", "expected"),
    ("at(2026-12-01T00:00:00)", "expected rate"), ("every hour", "expected rate"), ("cron(0 3 $ * ? *)", "field"),
    ("rate(" + "9" * 300 + " minutes)", "256"),
])
def test_expressions_scheduler_refuses_are_one_line_user_errors(expr, why):
    with pytest.raises(UserError) as e:
        schedule.expression(expr)
    assert why in str(e.value) and "\n" not in str(e.value)


def test_next_run_of_cron_and_rate():
    monday = datetime(2026, 3, 2, 10, 7, tzinfo=UTC)
    assert schedule.next_run("cron(0 3 * * ? *)", monday) == datetime(2026, 3, 3, 3, 0, tzinfo=UTC)
    assert schedule.next_run("cron(30 8 ? * 6 *)", monday) == datetime(2026, 3, 6, 8, 30, tzinfo=UTC)  # 6 = FRI
    started = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert schedule.next_run("rate(1 hour)", monday, started) == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert schedule.next_run("rate(1 hour)", monday) is None  # unknown without its start
    assert schedule.next_run("cron(0 3 1 1 ? 2020)", monday) is None  # no occurrence left


@given(st.from_regex(r"[a-z][a-z0-9-]{0,29}", fullmatch=True), st.from_regex(r"[a-z][a-z0-9-]{0,29}", fullmatch=True))
def test_schedule_groups_fit_schedulers_rules_and_never_collide(app, env):
    group = names.schedule_group(app, env)
    assert re.fullmatch(r"[0-9a-zA-Z._-]{1,64}", group) and group.startswith("paas")
    joined = names.join("paas", app, env)
    assert group == joined if len(joined) <= 64 else ("_" in group and "_" not in joined)


def test_long_names_hash_distinctly():
    a, b = "a" + "-" * 29, "b" + "-" * 29
    assert len({names.schedule_group(a, b), names.schedule_group(b, a), names.schedule_group(a, a)}) == 3


@given(st.integers(min_value=1, max_value=10**12), st.from_regex(r"[a-z][a-z0-9-]{0,29}", fullmatch=True))
def test_started_by_fits_ecs_and_depends_on_everything_it_names(n, app):
    at = "2026-12-01T10:00:00+00:00"
    for make in (names.run_started_by, names.release_started_by):
        tag = make(app, "prod", n, at)
        assert re.fullmatch(r"[A-Za-z0-9_/-]{1,36}", tag), tag
        assert tag != make(app, "staging", n, at) and tag != make(app, "prod", n, at + "1")


def test_job_task_groups_and_log_streams_round_trip():
    assert names.job_of_task_group(names.job_task_group("nightly-report")) == "nightly-report"
    assert names.job_of_task_group("service:shop-web-blue") is None and names.job_of_task_group(None) is None
    stream = names.log_stream("api-v2", "arn:aws:ecs:us-east-1:1:task/c/0123abcd")
    assert stream == "api-v2/api-v2/0123abcd" and names.process_of_log_stream(stream) == "api-v2"
