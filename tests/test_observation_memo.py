"""What a worker may reuse from its previous pass of an app (paas/reconciler/memo.py): only
under a lease that passed from it to itself, never after a rescue or another worker's claim,
never past its max age, weights never after someone asked for something, nothing from a pass
that failed. Plain data, a hand-driven clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from paas.domain.observed import ServiceDeployment, ServiceState, StackState, TargetHealth
from paas.planner import steps as s
from paas.reconciler.memo import Known, ObservationMemo

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
T1 = datetime(2026, 1, 1, 0, 5, tzinfo=timezone.utc)
RULE, TG = "arn:rule/1", "arn:tg/blue"


@dataclass(frozen=True)
class Claim:
    token: int
    enqueued_at: datetime = T0
    rescued: bool = False
    key: str = "1:1"


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def settled_stack() -> StackState:
    return StackState(name="paas-shop-dev", status="UPDATE_COMPLETE", template_hash="abc")


def service(running: int = 2) -> ServiceState:
    dep = ServiceDeployment("PRIMARY", "td:2", 2, running, 0, 0, "COMPLETED")
    return ServiceState(name="shop-web-blue", status="ACTIVE", task_definition="td:2", desired=2,
                        running=running, pending=0, deployments=(dep,))


def memo_after_one_pass(clock: Clock, token: int = 7) -> ObservationMemo:
    memo = ObservationMemo(60.0, clock=clock)
    known = memo.begin(Claim(token))
    known.see_stack(settled_stack())
    known.see_weights({RULE: {TG: 100}})
    known.see_health(TG, service(), TargetHealth(healthy=2, unhealthy=0, total=2))
    memo.keep(Claim(token), known)
    return memo


def test_the_next_claim_of_the_same_worker_reuses_stack_weights_and_confirmed_health():
    clock = Clock()
    known = memo_after_one_pass(clock).begin(Claim(8))
    assert known.stack_state() == settled_stack()
    assert known.rule_weights([RULE]) == {RULE: {TG: 100}}
    assert known.target_health(TG, service()) == TargetHealth(2, 0, 2)


def test_nothing_is_reused_when_another_claim_came_in_between():
    assert memo_after_one_pass(Clock()).begin(Claim(9)).stack_state() is None


def test_nothing_is_reused_by_a_rescue_even_of_our_own_lease():
    known = memo_after_one_pass(Clock()).begin(Claim(8, rescued=True))
    assert known.stack_state() is None and known.rule_weights([RULE]) is None


def test_weights_are_read_again_after_a_request_or_a_drift_report_enqueued_the_app():
    known = memo_after_one_pass(Clock()).begin(Claim(8, enqueued_at=T1))
    assert known.rule_weights([RULE]) is None
    assert known.stack_state() == settled_stack()


def test_nothing_older_than_the_max_age_is_reused():
    clock = Clock()
    memo = memo_after_one_pass(clock)
    clock.t += 61
    known = memo.begin(Claim(8))
    assert known.stack_state() is None and known.rule_weights([RULE]) is None
    assert known.target_health(TG, service()) is None


def test_an_entry_is_used_once_and_a_failed_pass_keeps_nothing():
    memo = memo_after_one_pass(Clock())
    memo.begin(Claim(8))  # this pass fails: never kept
    assert memo.begin(Claim(9)).stack_state() is None


def test_a_max_age_of_zero_keeps_nothing():
    memo = ObservationMemo(0.0, clock=Clock())
    known = memo.begin(Claim(1))
    known.see_stack(settled_stack())
    memo.keep(Claim(1), known)
    assert memo.begin(Claim(2)).stack_state() is None


def test_health_holds_only_while_the_service_is_unchanged_and_only_once_confirmed():
    known = Known()
    known.see_health(TG, service(), TargetHealth(healthy=2, unhealthy=0, total=2))
    assert known.target_health(TG, service(running=1)) is None  # a task was replaced meanwhile
    known.see_health(TG, service(), TargetHealth(healthy=1, unhealthy=1, total=2))
    assert known.target_health(TG, service()) is None  # not confirmed: asked again


def test_a_stack_is_kept_only_once_settled():
    known = Known()
    known.see_stack(StackState(name="x", status="UPDATE_IN_PROGRESS", template_hash="abc"))
    assert known.stack_state() is None
    known.see_stack(StackState(name="x", status="UPDATE_ROLLBACK_FAILED", template_hash="abc"))
    assert known.stack_state() is None


def test_a_stack_call_forgets_the_stack_and_a_shift_remembers_the_weights_it_set():
    known = Known()
    known.see_stack(settled_stack())
    known.after_step(s.ApplyStack("update", spec=None), call=object())
    assert known.stack_state() is None
    shift = s.ShiftTraffic("canary 10%", "web", RULE, {TG: 90, "arn:tg/green": 10}, 10)
    known.after_step(shift, call=object())
    assert known.rule_weights([RULE]) == {RULE: {TG: 90, "arn:tg/green": 10}}
    known.after_step(shift, call=None)  # a shift whose outcome is unknown: read the rule again
    assert known.rule_weights([RULE]) is None


def test_entries_of_apps_the_worker_no_longer_claims_do_not_pile_up():
    clock = Clock()
    memo = ObservationMemo(60.0, clock=clock)
    for i in range(ObservationMemo.PRUNE_ABOVE):
        memo.keep(Claim(1, key=f"{i}:1"), Known(token=1))
    clock.t += 61
    memo.keep(Claim(1, key="new:1"), Known(token=1))
    assert len(memo) == 1
