"""The worker loop: claim due app+environments, reconcile, release; wake on NOTIFY.

`paas worker` runs this until SIGTERM (finish the current step, release, exit);
`paas reconcile --once` runs the same passes until nothing is due, for cron. Notifications
are delivered by a thread of their own (paas/reconciler/notify.py), so a slow webhook never
holds up a reconcile; with --once they are sent after the reconciles. Any number of
either can run at once on any number of hosts: the queue's SKIP LOCKED claims and fencing
tokens keep them off each other's app+environments.
"""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from paas import clock
from paas.aws import budget, guard
from paas.db import pipeline as pipeline_db
from paas.db import queue
from paas.db.engine import make_engine, pooled
from paas.db.paces import DbPaces
from paas.planner import steps as s
from paas.planner.desired import Policy
from paas.reconciler import metrics as m
from paas.reconciler.drivers import driver_for
from paas.reconciler.lease import Lease
from paas.reconciler.memo import ObservationMemo
from paas.reconciler.logs import kv
from paas.reconciler.notify import Deliverer
from paas.reconciler.reconcile import reconcile_once
from paas.settings import Durations, gc_settings, shared_paces

log = logging.getLogger("paas.worker")

PUSH_STOP_GRACE = 15.0  # seconds past the long poll a stopping worker waits for its push consumer


def policy_from_settings() -> Policy:
    d = Durations()
    return Policy(poll_interval=d.poll_interval, stack_poll=d.stack_poll, rollout_deadline=d.rollout_deadline,
                  bake=d.bake, resync_interval=d.resync_interval,
                  metric_period=max(1, int(d.metric_period)), gc_interval=d.gc_interval,
                  gc_settings=gc_settings(), jobs_poll=d.jobs_poll)


def check_metric_period(period: int) -> None:
    """ALB metrics have 60 s granularity on AWS: a shorter period only works on the local stack."""
    from paas.domain.errors import UserError
    from paas.reconciler.drivers import endpoint_for

    local = (endpoint_for() or "").startswith(("http://127.0.0.1", "http://localhost", "http://[::1]"))
    if period % 60 and not local:
        raise UserError(f"PAAS_METRIC_PERIOD must be a multiple of 60 (ALB metrics come in 60 s periods), "
                        f"got {period}; shorter periods are for the local stack only")


@dataclass
class Worker:
    url: str
    concurrency: int = 1
    owner: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    durations: Durations = field(default_factory=Durations)
    policy: Policy = field(default_factory=policy_from_settings)
    once: bool = False

    def __post_init__(self) -> None:
        check_metric_period(self.policy.metric_period)
        # One name per worker process (host:pid), so pg_stat_activity shows who holds which sessions.
        self.engine = make_engine(self.url, pool_size=self.concurrency + 3,
                                  application_name=f"paas-worker {self.owner}"[:63])
        self.stopping = threading.Event()
        self.wake = threading.Condition()
        self.inflight: dict[str, tuple[queue.Claim, Lease]] = {}
        self.inflight_lock = threading.Lock()
        self.passes = 0
        self.deliverer = Deliverer(self.engine, self.owner)
        # what this worker saw of each app+environment under its own lease (reconciler/memo.py)
        self.memo = ObservationMemo(self.durations.observe_max_age)
        self.pipeline_passes = 0
        self.consumers: dict[tuple, Any] = {}  # (region, role) → PushConsumer
        # one pace per throttled AWS operation for all the account's workers (paas/db/paces.py)
        self.paces = DbPaces(self.url, application_name=f"paas-paces {self.owner}"[:63]) if shared_paces() else None

    # --- wake-ups -------------------------------------------------------------------
    def notify_all(self) -> None:
        with self.wake:
            self.wake.notify_all()

    def _listen(self) -> None:
        """LISTEN for the CLI's NOTIFY; on any failure reconnect, with polling as the fallback."""
        import psycopg2

        from paas.db.url import to_libpq

        delay = 0.5
        while not self.stopping.is_set():
            try:
                conn = psycopg2.connect(to_libpq(self.url), connect_timeout=5,
                                        application_name=f"paas-listen {self.owner}"[:63])
                conn.autocommit = True
                conn.cursor().execute(f"LISTEN {queue.CHANNEL}")
                conn.cursor().execute(f"LISTEN {pipeline_db.CHANNEL}")
                delay = 0.5
                self.notify_all()  # anything queued while we were away
                while not self.stopping.is_set():
                    if select.select([conn], [], [], 1.0)[0]:
                        conn.poll()
                        if conn.notifies:
                            conn.notifies.clear()
                            self.notify_all()
            except Exception as e:  # connection lost: Postgres restarted, network blip
                log.warning("listen connection lost; retrying", extra=kv(error=str(e).splitlines()[0]))
                self.stopping.wait(delay)
                delay = min(delay * 2, 10)
            finally:
                try:
                    conn.close()  # type: ignore[possibly-undefined]
                except Exception:
                    pass

    def _heartbeat(self) -> None:
        while not self.stopping.wait(self.durations.heartbeat):
            with self.inflight_lock:
                claims = list(self.inflight.values())
            if not claims:
                continue
            try:
                with pooled(self.engine) as db:
                    for c, lease in claims:
                        sent_at = guard.now()
                        try:
                            if queue.heartbeat(db, c, self.owner, self.durations.lease_ttl):
                                lease.extend(sent_at)
                        except Exception as e:
                            log.warning("heartbeat failed", extra=kv(key=c.key, error=str(e)))
            except Exception as e:
                log.warning("heartbeat: database unavailable", extra=kv(error=str(e).splitlines()[0]))

    def _gauges(self) -> None:
        while not self.stopping.wait(5.0):
            try:
                with pooled(self.engine) as db:
                    n, age = queue.depth(db)
                m.QUEUE_DEPTH.set(n)
                m.QUEUE_AGE.set(age)
            except Exception:
                pass

    # --- passes -----------------------------------------------------------------------
    def run_one(self) -> bool:
        """Claim and reconcile one due app+environment; False when nothing was due."""
        with pooled(self.engine) as db:
            # No transaction stays open across an AWS call, so a session idle in one for a whole
            # lease is a frozen worker: Postgres drops it and with it any row lock it held.
            db.execute("SET idle_in_transaction_session_timeout = %(t)s",
                       t=int(max(5.0, self.durations.lease_ttl) * 1000))
            db.commit()
            sent_at = guard.now()  # the lease runs from when the claim was sent, not answered
            claims = queue.claim(db, self.owner, self.durations.lease_ttl, limit=1)
            if not claims:
                return False
            c = claims[0]
            lease = Lease(self.durations.lease_ttl, sent_at)
            if c.rescued:
                m.LEASE_RESCUES.inc()
                log.info("rescued an expired lease", extra=kv(key=c.key, token=c.token))
            with self.inflight_lock:
                self.inflight[c.key] = (c, lease)
            t0 = time.monotonic()
            try:
                with guard.lease(lease.deadline):  # no AWS request once the lease may have expired
                    out = reconcile_once(db, c, driver_for, self.policy, worker=self.owner, on_step=self._count,
                                         should_stop=self.stopping.is_set, memo=self.memo)
            finally:
                with self.inflight_lock:
                    self.inflight.pop(c.key, None)
                m.RECONCILE_SECONDS.observe(time.monotonic() - t0)
            self.passes += 1
            if out.lease_lost:
                m.LEASES_LOST.inc()
                log.warning("lease lost; stopping work on this app", extra=kv(key=c.key, error=out.error))
                return True
            if out.error:
                m.ERRORS.labels("deployment_ended" if out.end_deployment else "retry").inc()
            queue.release(db, c, clock.real_seconds(out.after), ok=out.ok, error=out.error)
            log.info("pass", extra=kv(key=c.key, steps=out.steps, after=round(out.after, 2), error=out.error,
                                      token=c.token))
            return True

    def run_pipeline(self) -> bool:
        """Advance one due pipeline (one pass under its lease); False when none was due."""
        from paas.reconciler.pipeline import run_pass

        with pooled(self.engine) as db:
            app_id = pipeline_db.claim(db, self.owner, self.durations.lease_ttl)
            if app_id is None:
                return False
            lease = Lease(self.durations.lease_ttl, guard.now())
            after = self.durations.poll_interval
            try:
                with guard.lease(lease.deadline):
                    res = run_pass(db, app_id, self.owner, driver_for, resync_interval=self.durations.pipeline_resync)
                after = res.after
                if res.actions:
                    log.info("pipeline pass", extra=kv(app_id=app_id, actions=res.actions, after=round(after, 2)))
            except Exception as e:  # a transient AWS error, a lost lease: the next pass starts afresh
                db.rollback()
                log.warning("pipeline pass failed", extra=kv(app_id=app_id, error=str(e).splitlines()[0] if str(e)
                                                             else type(e).__name__))
                m.ERRORS.labels("pipeline").inc()
            finally:
                self.pipeline_passes += 1
                pipeline_db.release(db, app_id, self.owner, after)  # real seconds (database times)
            return True

    def _pipeline_events(self) -> None:
        """Long-poll each region's push queue (the regions of the pipelines' first stages)."""
        from paas.reconciler.drivers import push_driver_for
        from paas.reconciler.pipeline import PushConsumer

        wait = self.durations.push_wait
        while not self.stopping.is_set():
            try:
                with pooled(self.engine) as db:
                    watched = pipeline_db.watched(db)
                    db.commit()
                regions: dict[tuple, list] = {}
                for w in watched:
                    env = w[3]
                    if env.region:
                        regions.setdefault((env.region, env.role_arn), []).append(w)
                if not regions:
                    self.stopping.wait(max(0.5, self.durations.sweep_interval))
                    continue
                for key, group in regions.items():
                    c = self.consumers.get(key)
                    if c is None:
                        c = self.consumers[key] = PushConsumer(push_driver_for(group[0][3], wait),
                                                               wait_seconds=wait / len(regions))
                    in_region = (lambda k: lambda db: [w for w in pipeline_db.watched(db)
                                                       if (w[3].region, w[3].role_arn) == k])(key)
                    if c.poll_once(lambda: pooled(self.engine), in_region, on_recorded=lambda _app: self.notify_all()):
                        self.notify_all()
            except Exception as e:  # AWS or the database unavailable: keep trying, never die
                log.warning("push events: retrying", extra=kv(error=str(e).splitlines()[0] if str(e)
                                                              else type(e).__name__))
                self.stopping.wait(2.0)

    def run_resync(self) -> bool:
        """Resync one environment that is due; False when none is."""
        from paas.db.resync import claim_environment
        from paas.reconciler.resync import resync_environment

        with pooled(self.engine) as db:
            env = claim_environment(db, self.policy.resync_interval)
            if env is None:
                return False
            try:
                res = resync_environment(db, env, driver_for(env))
            except Exception as e:
                db.rollback()
                log.warning("resync failed", extra=kv(environment=env.name, error=str(e)))
                m.ERRORS.labels("resync").inc()
                return True
            log.info("resync", extra=kv(environment=env.name, services=res.services, drifted=len(res.drifted)))
            return True

    def run_deliveries(self) -> bool:
        """Send one batch of due notifications; False when none was due."""
        return self.deliverer.run_once() > 0

    def _deliver_loop(self) -> None:
        """Deliver notifications until stopped; woken by NOTIFY like the reconcile loops."""
        backoff = 0.5
        poll = self.deliverer.settings.poll
        while not self.stopping.is_set():
            try:
                if self.run_deliveries():
                    backoff = 0.5
                    continue
                due = self.deliverer.next_due_in()
                timeout = min(poll, due if due is not None else poll)
                with self.wake:
                    self.wake.wait(timeout=max(0.01, timeout))
                backoff = 0.5
            except Exception as e:  # database unavailable: keep trying, never die
                log.warning("notifications: database unavailable; retrying",
                            extra=kv(error=str(e).splitlines()[0] if str(e) else type(e).__name__))
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def _count(self, step: s.Step) -> None:
        if isinstance(step, s.Finish):
            m.DEPLOYMENTS.labels(step.state).inc()
        if not isinstance(step, (s.Wait, s.Idle)):
            m.STEPS.labels(type(step).__name__).inc()

    def _loop(self) -> None:
        backoff = 0.5
        while not self.stopping.is_set():
            try:
                if self.run_one():
                    backoff = 0.5
                    continue
                if self.run_pipeline():
                    backoff = 0.5
                    continue
                if self.run_resync():
                    continue
                if self.once:
                    if self.run_deliveries():
                        continue
                    return
                with pooled(self.engine) as db:
                    due = queue.next_due_in(db)
                    pdue = pipeline_db.next_due_in(db)
                if pdue is not None:
                    due = pdue if due is None else min(due, pdue)
                timeout = min(self.durations.sweep_interval, due if due is not None else 60.0)
                with self.wake:
                    self.wake.wait(timeout=max(0.01, timeout))
                backoff = 0.5
            except Exception as e:  # database unavailable: keep trying, never die
                log.warning("database unavailable; retrying", extra=kv(error=str(e).splitlines()[0] if str(e) else type(e).__name__))
                if self.once:
                    raise
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)

    def run(self) -> None:
        threads = [threading.Thread(target=self._heartbeat, name="heartbeat", daemon=True)]
        push_events = None
        if not self.once:
            push_events = threading.Thread(target=self._pipeline_events, name="push-events", daemon=True)
            threads += [threading.Thread(target=self._listen, name="listen", daemon=True),
                        threading.Thread(target=self._gauges, name="gauges", daemon=True),
                        threading.Thread(target=self._deliver_loop, name="notify", daemon=True), push_events]
        if self.paces is not None:
            budget.share_paces(self.paces)
        for t in threads:
            t.start()
        loops = [threading.Thread(target=self._loop, name=f"reconcile-{i}") for i in range(self.concurrency)]
        for t in loops:
            t.start()
        try:
            for t in loops:
                while t.is_alive():
                    t.join(timeout=0.5)
        finally:
            self.stopping.set()
            self.notify_all()
            if push_events is not None:
                # messages a poll in flight receives are recorded (or handed back) before the
                # database goes: a stopped worker takes no push with it for the visibility timeout
                push_events.join(timeout=self.durations.push_wait + PUSH_STOP_GRACE)
            if self.paces is not None:
                budget.unshare_paces(self.paces)
                self.paces.close()
            self.engine.dispose()

    def stop(self) -> None:
        """Finish the current step, release, exit."""
        self.stopping.set()
        self.notify_all()
