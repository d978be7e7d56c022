"""Every size and range limit on user input, in one place, each with the reason for its number.

Where AWS sets the limit, the number is AWS's (the source is named); where paas sets it, it is
well above any real use and well below what would hurt (terminal output, row sizes, the
64 KiB task definition, the ALB's per-listener quotas). The README's limits table is this file.
"""

from __future__ import annotations

# --- free text (deployment messages, actors, teams) ---------------------------------------
# One line of printable text: it is shown in tables, logs and terminals, where a newline, an
# ANSI escape or a BEL would forge or garble output.
MESSAGE_MAX = 1000
ACTOR_MAX = 200
TEAM_MAX = 100

# --- durations ----------------------------------------------------------------------------
# Ten years: longer than any bake window, GC window or `--since` a person means, and far
# below what a timedelta, a float or Postgres' interval can hold.
DURATION_MAX_SECONDS = 10 * 365 * 86400

# --- config (plain env vars) ----------------------------------------------------------------
# ECS caps a whole task definition at 64 KiB (ECS service quotas, "task definition size",
# not adjustable). Env vars go in as [{"name": ..., "value": ...}] JSON, so the limit is on that
# encoding, with 16 KiB left for image, command, secrets, log configuration and tags.
CONFIG_VALUE_MAX_BYTES = 32 * 1024
CONFIG_TOTAL_MAX_BYTES = 48 * 1024
# Each variable costs at least ~25 bytes of JSON, so 500 keys already use a quarter of the
# budget with empty values; more is a sign of data that belongs in a file or a secret, and
# keeps `paas config` readable.
CONFIG_KEYS_MAX = 500
CONFIG_KEY_MAX = 255

# --- secrets ------------------------------------------------------------------------------
# Secret values are stored in AWS Secrets Manager (paas/aws/secrets.py), whose SecretString
# holds at most 65,536 bytes (the API's SecretStringType): the limit of the storage written.
SECRET_VALUE_MAX_BYTES = 65536

# --- paas.toml ----------------------------------------------------------------------------
MANIFEST_MAX_BYTES = 256 * 1024  # a real paas.toml is a few hundred bytes
# 20 processes = up to 40 ECS services and, for web processes, 40 target groups and 20
# listener rules. An ALB holds 100 target groups and 100 rules (ELB quotas, not adjustable
# for target groups), shared by every app on it: one app should not take half.
PROCESSES_MAX = 20
# Each job is one EventBridge Scheduler schedule in the app's schedule group and a task each
# time it fires: 50 is more than any app's cron table, and keeps `paas jobs` one screen.
JOBS_MAX = 50
COMMAND_MAX = 4096  # part of the 64 KiB task definition; a real command is a line
HEALTH_CHECK_PATH_MAX = 1024  # ELBv2 HealthCheckPath: 1-1024 characters
# A release phase (migrations) that runs longer than a day is stuck, not slow.
RELEASE_TIMEOUT_MAX = 86400
MIN_REQUESTS_MAX = 1_000_000  # a canary gate asking for more never decides
P99_MS_MAX = 3_600_000.0  # one hour: no gate needs a longer latency threshold
P99_RATIO_MAX = 1000.0

# --- health checks (ELBv2 CreateTargetGroup, ECS CreateService) ---------------------------
HC_INTERVAL = (5, 300)  # HealthCheckIntervalSeconds
HC_TIMEOUT = (2, 120)  # HealthCheckTimeoutSeconds, and < interval
HC_THRESHOLD = (2, 10)  # HealthyThresholdCount, UnhealthyThresholdCount
HC_CODES = (200, 499)  # Matcher.HttpCode for Application Load Balancers
HC_CODES_MAX_LEN = 64
# ECS takes 0-2,147,483,647 s; a task that has not answered in an hour will not, and a
# longer grace period only hides a crash loop from the scheduler.
HC_GRACE_PERIOD = (0, 3600)

# --- ALB listener rules (ELB quotas and the RuleCondition reference) ------------------------
RULE_PRIORITY = (1, 50_000)
RULE_CONDITION_VALUES_MAX = 5  # condition values per rule (host + path values together)
RULE_WILDCARDS_MAX = 5  # condition wildcards ('*' and '?') per rule
RULE_VALUE_MAX = 128  # each host or path pattern

# --- environment settings -----------------------------------------------------------------
SUBNETS_MAX = 16  # awsvpcConfiguration: at most 16 subnets
SECURITY_GROUPS_MAX = 5  # awsvpcConfiguration: at most 5 security groups
CLUSTER_NAME_MAX = 255
ENDPOINT_URL_MAX = 2048
