"""What simulated containers print, written to the emulator's CloudWatch Logs like awslogs.

ECS's ``awslogs`` driver sends a container's stdout/stderr to the log group named by the
container definition's ``logConfiguration.options``: ``awslogs-group``, ``awslogs-region``
and ``awslogs-stream-prefix``, one stream per container: ``prefix/container-name/task-id``
(AWS documents this format; the prefix is required on Fargate). Without a prefix the stream
is named after the task id here (on EC2 AWS would use the Docker container id).

A group that does not exist is an error on AWS, not a detail: the task fails to start with
``ResourceInitializationError`` unless ``awslogs-create-group`` is ``"true"``. The simulation
does the same (``LogTarget.ensure`` returns the error).

Only the essential container whose image selects the profile writes lines (moto models one
container per task). The lines are honest about being simulated: the start line names the
image and the command, then the profile's ``log`` lines (again every ``log_every_seconds``),
and ``crash_message`` when the container exits on its own. Timestamps are the simulation's
clock (``paas.clock``), in milliseconds.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from moto.logs.models import logs_backends

from .profiles import Profile


@dataclass
class LogTarget:
    """Where one container's lines go."""

    account_id: str
    region: str
    group: str
    stream: str
    create_group: bool
    next_periodic: float | None = None

    def _backend(self) -> Any:
        return logs_backends[self.account_id][self.region]

    def ensure(self) -> str | None:
        """Create the stream (and the group when allowed); an error text if the task cannot start."""
        backend = self._backend()
        if self.group not in backend.groups:
            if not self.create_group:
                return ("ResourceInitializationError: failed to validate logger args: create stream has been "
                        "retried 1 times: failed to create Cloudwatch log stream: ResourceNotFoundException: "
                        "The specified log group does not exist. : exit status 1")
            backend.create_log_group(self.group, {})
        group = backend.groups[self.group]
        if self.stream not in group.streams:
            group.create_log_stream(self.stream)
        return None

    def write(self, lines: list[str], at: float) -> None:
        """Append ``lines`` stamped ``at`` (epoch seconds); silently nothing if the group is gone."""
        if not lines:
            return
        group = self._backend().groups.get(self.group)
        if group is None:
            return
        if self.stream not in group.streams:
            group.create_log_stream(self.stream)
        millis = int(at * 1000)
        # the group's own method: the backend's "not 2 h in the future" check uses real time,
        # and a warped clock (paas.clock) may run ahead of it
        group.put_log_events(self.stream, [{"timestamp": millis, "message": line} for line in lines])


def log_target(task_definition: Any, container_name: str | None, task_id: str, account_id: str,
               default_region: str) -> LogTarget | None:
    """The awslogs destination of ``container_name`` in ``task_definition``, if it has one."""
    for c in getattr(task_definition, "container_definitions", None) or []:
        if container_name is not None and c.get("name") != container_name:
            continue
        cfg = c.get("logConfiguration") or {}
        if cfg.get("logDriver") != "awslogs":
            return None
        opts = cfg.get("options") or {}
        group = opts.get("awslogs-group")
        if not group:
            return None
        prefix = opts.get("awslogs-stream-prefix")
        stream = f"{prefix}/{c.get('name')}/{task_id}" if prefix else task_id
        return LogTarget(account_id, opts.get("awslogs-region") or default_region, group, stream,
                         str(opts.get("awslogs-create-group", "")).lower() == "true")
    return None


def start_lines(container_name: str | None, image: str | None, command: list[str] | None,
                profile: Profile) -> list[str]:
    """What a container prints when it starts: one honest line, then the profile's lines."""
    cmd = f", command: {shlex.join(command)}" if command else ""
    return [f"[paas devstack] simulated container {container_name} started from {image}{cmd}", *profile.log]


def exit_lines(profile: Profile, exit_code: int) -> list[str]:
    """What a container prints as it exits on its own."""
    if profile.crash_message:
        return [profile.crash_message]
    return [] if exit_code == 0 else [f"[paas devstack] simulated container exiting with code {exit_code}"]
