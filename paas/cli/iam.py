"""IAM: print the least-privilege policy the worker's role needs (derived from paas/aws/iam.py)."""

from __future__ import annotations

import re

import click

from paas.cli.common import Group, json_option, print_json
from paas.domain.errors import UserError

_ACCOUNT_RE = re.compile(r"\d{12}|\*")
_REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d|\*")


@click.group(cls=Group)
def iam():
    """IAM policies for paas's AWS identities."""


@iam.command("policy")
@click.option("--cfn-role-arn", envvar="PAAS_CFN_ROLE_ARN", show_envvar=True,
              help="CloudFormation service role the worker passes as RoleARN; the worker then "
                   "needs no write access to the stack's resources.")
@click.option("--for", "for_", type=click.Choice(["worker", "cfn-role"]), default="worker",
              show_default=True,
              help="Whose policy: the worker's role, or the CloudFormation service role's.")
@click.option("--account", default="*", show_default=True, help="AWS account id to scope ARNs to.")
@click.option("--region", default="*", show_default=True, help="AWS region to scope ARNs to.")
@click.option("--partition", type=click.Choice(["aws", "aws-cn", "aws-us-gov"]), default="aws",
              show_default=True, help="AWS partition of the ARNs.")
@json_option
def policy(cfn_role_arn, for_, account, region, partition, as_json):
    """Print the least-privilege IAM policy (a JSON document).

    \b
    Examples:
      paas iam policy --account 123456789012 --region eu-west-1 > worker-policy.json
      paas iam policy --for cfn-role --account 123456789012
    """
    from paas.aws import iam as tables

    if not _ACCOUNT_RE.fullmatch(account):
        raise UserError(f"--account must be a 12-digit AWS account id, got {account!r}")
    if not _REGION_RE.fullmatch(region):
        raise UserError(f"--region must be an AWS region such as eu-west-1, got {region!r}")
    if cfn_role_arn and not tables.ROLE_ARN_RE.fullmatch(cfn_role_arn):
        raise UserError(f"--cfn-role-arn must be an IAM role ARN (arn:aws:iam::123456789012:role/NAME), "
                        f"got {cfn_role_arn!r}")
    where = {"partition": partition, "region": region, "account": account}
    if for_ == "cfn-role":
        doc = tables.cfn_role_policy(**where)
    else:
        doc = tables.worker_policy(cfn_role_arn=cfn_role_arn or None, **where)
    print_json(doc)
