"""ECS task definitions: registered once per release, found again by their ``paas:release`` tag.

Registration is idempotent through `find_task_definition` (the family's newest revision, or a
bounded scan of recent ones for a rollback), so a worker that crashed after RegisterTaskDefinition
does not register the same release twice. Task definitions are immutable and their ARNs unique,
so the ARN → release facts are cached on the shared `AwsClients` for the life of the process.

Family names can collide across apps (ownership.py): a new revision is registered only into a
family whose newest revision carries the spec's ``paas:app`` / ``paas:env`` / ``paas:process``.
Inside a reconcile pass (seen_tags.py) the newest revision `find_task_definition` just read
serves that check, so finding and then registering costs one DescribeTaskDefinition, not two.
"""

from __future__ import annotations

import shlex
import threading
from typing import Any, Iterable, Mapping

from botocore.exceptions import ClientError

from paas.aws import ownership, seen_tags
from paas.aws.api import Api, rid
from paas.aws.driver import Call
from paas.aws.errors import error_message, map_error
from paas.aws.ownership import tag_dict
from paas.domain.specs import TaskDefSpec

RELEASE_TAG = "paas:release"
SEEN_KIND = "ecs-task-definition-family"


def parse_release(tags: Iterable[dict] | None) -> int | None:
    for t in tags or ():
        if t.get("key") == RELEASE_TAG:
            try:
                return int(t.get("value"))
            except (TypeError, ValueError):
                return None
    return None


def family_of(arn: str) -> str:
    """``arn:aws:ecs:r:a:task-definition/fam:3`` → ``fam``."""
    return arn.rsplit("/", 1)[-1].rsplit(":", 1)[0]


class TaskDefinitions:
    def __init__(self, api: Api) -> None:
        self.api = api
        self._releases = api.clients.release_cache  # ARN → paas:release, shared, immutable facts
        self._releases_lock = threading.Lock()

    def _remember_release(self, arn: str, release: int | None) -> None:
        with self._releases_lock:
            self._releases[arn] = release

    def _describe(self, task_definition: str) -> dict | None:
        """DescribeTaskDefinition with tags; None when there is no such family or revision."""
        try:
            return self.api.call("ecs", "DescribeTaskDefinition", allow=("ClientException",),
                                 taskDefinition=task_definition, include=["TAGS"])
        except ClientError as e:
            if "Unable to describe task definition" in error_message(e) or "not found" in error_message(e).lower():
                return None
            raise map_error(e, "ecs:DescribeTaskDefinition") from e

    def _newest(self, family: str) -> dict | None:
        """The family's newest revision (DescribeTaskDefinition by family), kept for the rest of
        a reconcile pass (seen_tags.py): registering right after finding needs the same answer
        for its owner check."""
        seen = seen_tags.recall(SEEN_KIND, family)
        if seen is not seen_tags.MISSING:
            return seen
        resp = self._describe(family)
        seen_tags.remember(SEEN_KIND, family, resp)
        return resp

    def find_task_definition(self, family: str, release: int) -> str | None:
        resp = self._newest(family)
        if resp is None:
            return None
        td = resp.get("taskDefinition") or {}
        arn = td.get("taskDefinitionArn")
        if not arn or td.get("status") not in (None, "ACTIVE"):
            return None
        got = parse_release(resp.get("tags"))
        self._remember_release(arn, got)
        if got == release:
            return arn
        if got is not None and got < release:
            return None  # the newest revision predates this release: it was never registered
        return self._find_older_revision(family, release)

    def _find_older_revision(self, family: str, release: int, scan: int = 10) -> str | None:
        """A rollback to an older release: its revision is among the family's recent ones.

        Only on a cache miss (the reconciler remembers ARNs it registered); bounded to `scan`
        revisions, newest first, each read once per process (task definitions are immutable).
        """
        resp = self.api.call("ecs", "ListTaskDefinitions", familyPrefix=family, status="ACTIVE", sort="DESC",
                             maxResults=scan)
        for arn in (resp.get("taskDefinitionArns") or [])[:scan]:
            if family_of(arn) != family:
                continue  # familyPrefix also matches longer family names
            if self.release_of([arn]).get(arn) == release:
                return arn
        return None

    def register_task_definition(self, spec: TaskDefSpec) -> Call:
        """A new revision, after checking that the family's newest revision (if any) carries
        the spec's owner tags (one DescribeTaskDefinition)."""
        newest = self._newest(spec.family)
        if newest is not None:
            ownership.check("ecs:RegisterTaskDefinition", f"task-definition family {spec.family}",
                            tag_dict(newest.get("tags")), spec.tags)
        container: dict[str, Any] = {
            "name": spec.container_name,
            "image": spec.image,
            "essential": True,
            "environment": [{"name": k, "value": v} for k, v in sorted(spec.environment.items())],
        }
        if spec.port is not None:
            container["portMappings"] = [{"containerPort": spec.port, "protocol": "tcp"}]
        if spec.command:
            container["command"] = shlex.split(spec.command)
        if spec.secrets:
            container["secrets"] = [{"name": k, "valueFrom": v} for k, v in sorted(spec.secrets.items())]
        if spec.log_group:
            container["logConfiguration"] = {
                "logDriver": "awslogs",
                "options": {"awslogs-group": spec.log_group, "awslogs-region": spec.region,
                            "awslogs-stream-prefix": spec.container_name},
            }
        params: dict[str, Any] = {
            "family": spec.family,
            "networkMode": "awsvpc",
            "requiresCompatibilities": ["FARGATE"],
            "cpu": str(spec.cpu),
            "memory": str(spec.memory),
            "containerDefinitions": [container],
        }
        if spec.execution_role_arn:
            params["executionRoleArn"] = spec.execution_role_arn
        if spec.task_role_arn:
            params["taskRoleArn"] = spec.task_role_arn
        if spec.tags:
            params["tags"] = [{"key": k, "value": v} for k, v in sorted(spec.tags.items())]
        seen_tags.forget(SEEN_KIND, spec.family)  # a new newest revision, whatever happens next
        resp = self.api.call("ecs", "RegisterTaskDefinition", **params)
        td = resp["taskDefinition"]
        arn = td["taskDefinitionArn"]
        rel = spec.tags.get(RELEASE_TAG)
        self._remember_release(arn, int(rel) if rel and rel.isdigit() else None)
        return Call("ecs:RegisterTaskDefinition", rid(resp),
                    {"arn": arn, "revision": td.get("revision")})

    def deregister_task_definition(self, arn: str, *, owner: Mapping[str, str] | None = None) -> Call:
        """With `owner` (paas:app/env/process), the revision's tags are checked first."""
        if owner:
            found = self._describe(arn)
            if found is not None:
                ownership.check("ecs:DeregisterTaskDefinition", f"task definition {arn}",
                                tag_dict(found.get("tags")), owner)
        resp = self.api.call("ecs", "DeregisterTaskDefinition", taskDefinition=arn)
        return Call("ecs:DeregisterTaskDefinition", rid(resp), {"arn": arn})

    def list_task_definitions(self, family: str) -> list[str]:
        """ACTIVE revisions of exactly this family, oldest first."""
        arns: list[str] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"familyPrefix": family, "status": "ACTIVE", "sort": "ASC"}
            if token:
                params["nextToken"] = token
            resp = self.api.call("ecs", "ListTaskDefinitions", **params)
            for arn in resp.get("taskDefinitionArns") or []:
                if family_of(arn) == family:
                    arns.append(arn)
            token = resp.get("nextToken")
            if not token:
                return arns

    def release_of(self, arns: Iterable[str]) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for arn in dict.fromkeys(a for a in arns if a):
            with self._releases_lock:
                if arn in self._releases:
                    out[arn] = self._releases[arn]
                    continue
            try:
                resp = self.api.call("ecs", "DescribeTaskDefinition", allow=("ClientException",),
                                     taskDefinition=arn, include=["TAGS"])
            except ClientError:
                out[arn] = None  # deregistered-and-deleted or foreign: unknown, don't cache
                continue
            rel = parse_release(resp.get("tags"))
            self._remember_release(arn, rel)
            out[arn] = rel
        return out

