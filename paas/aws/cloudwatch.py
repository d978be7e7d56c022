"""CloudWatch: ALB metrics per target group for the canary gate.

AWS limits kept here: GetMetricData takes ≤ 500 queries a call (batched), results are paged
with ``NextToken``; a query id is ``[a-z][a-zA-Z0-9_]*`` (≤ 255), unique in the call; a period
is 1, 5, 10, 30 or a multiple of 60 seconds. Per target group, ALB metrics are addressed with
both ``TargetGroup=targetgroup/NAME/ID`` and ``LoadBalancer=app/NAME/ID``. moto enforces none
of these.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

from paas.aws.api import Api, chunks, epoch
from paas.aws.driver import MetricQuery
from paas.domain.errors import PermanentError

GET_METRIC_DATA_MAX = 500
QUERY_ID_RE = re.compile(r"[a-z][a-zA-Z0-9_]*")
QUERY_ID_MAX = 255
HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)


def check_queries(queries: list[MetricQuery]) -> None:
    """AWS's rules for GetMetricData queries, checked before sending (moto checks none)."""
    seen: set[str] = set()
    for q in queries:
        if not QUERY_ID_RE.fullmatch(q.id) or len(q.id) > QUERY_ID_MAX:
            raise PermanentError(f"cloudwatch:GetMetricData: query id {q.id!r} must start with a "
                                 f"lower-case letter, then letters, digits or _ (≤ {QUERY_ID_MAX})")
        if q.id in seen:
            raise PermanentError(f"cloudwatch:GetMetricData: query id {q.id!r} is used twice")
        seen.add(q.id)
        if not (q.period in HIGH_RESOLUTION_PERIODS or (q.period > 0 and q.period % 60 == 0)):
            raise PermanentError(f"cloudwatch:GetMetricData: period {q.period} s of query {q.id} "
                                 "must be 1, 5, 10, 30 or a multiple of 60")


class CloudWatch:
    def __init__(self, api: Api) -> None:
        self.api = api

    def metric_data(self, queries: list[MetricQuery], start: float, end: float) -> dict[str, list[tuple[float, float]]]:
        check_queries(queries)
        out: dict[str, list[tuple[float, float]]] = {q.id: [] for q in queries}
        t0 = datetime.fromtimestamp(start, tz=timezone.utc)
        t1 = datetime.fromtimestamp(end, tz=timezone.utc)
        for chunk in chunks(list(queries), GET_METRIC_DATA_MAX):
            mdq = [{
                "Id": q.id,
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/ApplicationELB",
                        "MetricName": q.metric,
                        "Dimensions": [
                            {"Name": "TargetGroup", "Value": _tg_dimension(q.target_group_arn)},
                            {"Name": "LoadBalancer", "Value": _lb_dimension(q.load_balancer_arn)},
                        ],
                    },
                    "Period": q.period,
                    "Stat": q.stat,
                },
                "ReturnData": True,
            } for q in chunk]
            token: str | None = None
            while True:
                params: dict[str, Any] = {"MetricDataQueries": mdq, "StartTime": t0, "EndTime": t1,
                                          "ScanBy": "TimestampAscending"}
                if token:
                    params["NextToken"] = token
                resp = self.api.call("cloudwatch", "GetMetricData", **params)
                for r in resp.get("MetricDataResults") or []:
                    pts = out.setdefault(r["Id"], [])
                    pts.extend((epoch(t), float(v)) for t, v in
                               zip(r.get("Timestamps") or [], r.get("Values") or []))
                token = resp.get("NextToken")
                if not token:
                    break
        for k in out:
            out[k].sort(key=lambda p: p[0])
        return out


def _tg_dimension(arn: str) -> str:
    """``arn:aws:elasticloadbalancing:r:a:targetgroup/name/id`` → ``targetgroup/name/id``."""
    i = arn.find(":targetgroup/")
    if i < 0:
        raise PermanentError(f"cloudwatch:GetMetricData: not a target group ARN: {arn}")
    return arn[i + 1:]


def _lb_dimension(arn: str) -> str:
    """``arn:aws:elasticloadbalancing:r:a:loadbalancer/app/name/id`` → ``app/name/id``."""
    i = arn.find(":loadbalancer/")
    if i < 0:
        raise PermanentError(f"cloudwatch:GetMetricData: not a load balancer ARN: {arn}")
    return arn[i + len(":loadbalancer/"):]
