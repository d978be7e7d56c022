"""ECR image pushes, the way an AWS account reports them: an EventBridge rule on ECR's
"ECR Image Action" events (action-type PUSH, result SUCCESS) delivering to an SQS queue that
workers long-poll; and DescribeImages for the resync that catches what a lost message missed.

The route (per region): queue ``paas-image-pushes`` (long polling on by default, 4 days'
retention, a visibility timeout longer than a pass), its policy letting ``events.amazonaws.com``
send to it only from the rule (``aws:SourceArn``), and rule ``paas-ecr-image-push`` targeting it.
Every call is idempotent: CreateQueue with the same attributes returns the existing queue,
PutRule and PutTargets overwrite. The rule matches every repository of the account and region;
workers drop (delete) messages of repositories no pipeline watches.

AWS limits kept here: ReceiveMessage WaitTimeSeconds 0-20 and MaxNumberOfMessages 1-10;
ChangeMessageVisibility 0-43,200 s;
DescribeImages pages of at most 1,000 (``maxResults``).

Emulator (moto 5.2) gaps: ECR PutImage sends no event (the dev stack's `paas dev push` sends
the same event with PutEvents, which moto does deliver to an SQS target of a matching rule);
the queue policy is stored but not enforced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from paas.aws.api import Api, epoch

QUEUE_NAME = "paas-image-pushes"
RULE_NAME = "paas-ecr-image-push"
WAIT_MAX = 20
RECEIVE_MAX = 10
VISIBILITY_TIMEOUT = 60
VISIBILITY_MAX = 12 * 3600
RETENTION = 4 * 86400
DESCRIBE_IMAGES_PAGE = 1000
EVENT_PATTERN = {"source": ["aws.ecr"], "detail-type": ["ECR Image Action"],
                 "detail": {"action-type": ["PUSH"], "result": ["SUCCESS"]}}


@dataclass(frozen=True)
class PushMessage:
    """One message of the queue: the push it reports (None fields: not an image push)."""

    receipt: str
    repository: str | None
    tag: str | None
    digest: str | None
    pushed_at: datetime | None  # the event's time
    queued_at: datetime | None  # SentTimestamp: when it landed on the queue
    account: str | None


@dataclass(frozen=True)
class ImageInfo:
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime | None


def _parse(m: dict) -> PushMessage:
    sent = (m.get("Attributes") or {}).get("SentTimestamp")
    queued = datetime.fromtimestamp(int(sent) / 1000, timezone.utc) if sent else None
    try:
        body = json.loads(m.get("Body") or "")
        d = body.get("detail") or {}
        ok = (body.get("detail-type") == "ECR Image Action" and d.get("action-type") == "PUSH"
              and d.get("result") == "SUCCESS")
        t = body.get("time")
        at = datetime.fromisoformat(t.replace("Z", "+00:00")) if isinstance(t, str) else None
    except (ValueError, AttributeError, TypeError):
        return PushMessage(m["ReceiptHandle"], None, None, None, None, queued, None)
    if not ok:
        return PushMessage(m["ReceiptHandle"], None, None, None, at, queued, None)
    return PushMessage(m["ReceiptHandle"], d.get("repository-name"), d.get("image-tag") or None,
                       d.get("image-digest"), at, queued, body.get("account"))


class PushEvents:
    def __init__(self, api: Api) -> None:
        self.api = api

    def ensure_route(self) -> str:
        """The queue (created if missing) with its policy, and the rule delivering to it; its URL."""
        url = self.api.call("sqs", "CreateQueue", QueueName=QUEUE_NAME, Attributes={
            "ReceiveMessageWaitTimeSeconds": str(WAIT_MAX), "MessageRetentionPeriod": str(RETENTION),
            "VisibilityTimeout": str(VISIBILITY_TIMEOUT)})["QueueUrl"]
        arn = self.api.call("sqs", "GetQueueAttributes", QueueUrl=url,
                            AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule_arn = self.api.call("events", "PutRule", Name=RULE_NAME, EventPattern=json.dumps(EVENT_PATTERN),
                                 State="ENABLED",
                                 Description="ECR image pushes for paas pipelines")["RuleArn"]
        policy = {"Version": "2012-10-17", "Statement": [{
            "Sid": "EventBridgeEcrPushes", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage", "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}}]}
        self.api.call("sqs", "SetQueueAttributes", QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        self.api.call("events", "PutTargets", Rule=RULE_NAME, Targets=[{"Id": "paas-image-pushes", "Arn": arn}])
        return url

    def receive(self, queue_url: str, wait_seconds: float, max_messages: int = RECEIVE_MAX) -> list[PushMessage]:
        """Long poll (0-20 s); messages stay invisible for the visibility timeout until deleted."""
        resp = self.api.call("sqs", "ReceiveMessage", QueueUrl=queue_url,
                             WaitTimeSeconds=max(0, min(WAIT_MAX, int(wait_seconds))),
                             MaxNumberOfMessages=max(1, min(RECEIVE_MAX, max_messages)),
                             AttributeNames=["SentTimestamp"])
        return [_parse(m) for m in resp.get("Messages") or []]

    def delete(self, queue_url: str, receipt: str) -> None:
        """Only after the push is committed: a message lost before then comes back."""
        self.api.call("sqs", "DeleteMessage", QueueUrl=queue_url, ReceiptHandle=receipt)

    def retry_later(self, queue_url: str, receipt: str, seconds: int) -> None:
        """A message that could not be recorded comes back after `seconds` (0-43,200), not after
        the whole visibility timeout."""
        self.api.call("sqs", "ChangeMessageVisibility", QueueUrl=queue_url, ReceiptHandle=receipt,
                      VisibilityTimeout=max(0, min(VISIBILITY_MAX, int(seconds))))

    def repository_uri(self, repository: str) -> str | None:
        """None when the repository is gone (deleted after the push): nothing can be deployed from it."""
        try:
            resp = self.api.call("ecr", "DescribeRepositories", repositoryNames=[repository],
                                 allow=("RepositoryNotFoundException",))
        except ClientError:
            return None
        return resp["repositories"][0]["repositoryUri"]

    def images(self, repository: str) -> list[ImageInfo]:
        """Tagged images of a repository, every page (the resync reads the newest of them)."""
        params: dict[str, Any] = {"repositoryName": repository, "filter": {"tagStatus": "TAGGED"},
                                  "maxResults": DESCRIBE_IMAGES_PAGE}
        out: list[ImageInfo] = []
        while True:
            resp = self.api.call("ecr", "DescribeImages", **params)
            for d in resp.get("imageDetails") or []:
                at = d.get("imagePushedAt")
                out.append(ImageInfo(d["imageDigest"], tuple(d.get("imageTags") or ()),
                                     datetime.fromtimestamp(epoch(at), timezone.utc) if at is not None else None))
            token = resp.get("nextToken")
            if not token:
                return out
            params["nextToken"] = token
