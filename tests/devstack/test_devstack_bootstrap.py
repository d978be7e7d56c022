from __future__ import annotations

from paas.devstack.bootstrap import bootstrap_dev_environment


def test_bootstrap_is_idempotent(emulator, env):
    ec2 = emulator.client("ec2")
    vpcs_before = len(ec2.describe_vpcs()["Vpcs"])
    subnets_before = len(ec2.describe_subnets()["Subnets"])

    again = bootstrap_dev_environment(emulator.endpoint_url, region=emulator.region, name="devstack-tests")

    assert again == env
    assert len(ec2.describe_vpcs()["Vpcs"]) == vpcs_before
    assert len(ec2.describe_subnets()["Subnets"]) == subnets_before
    assert len(emulator.client("elbv2").describe_listeners(LoadBalancerArn=env["load_balancer_arn"])["Listeners"]) == 1


def test_bootstrap_creates_the_documented_environment(emulator, env):
    ec2, elbv2, ecs = emulator.client("ec2"), emulator.client("elbv2"), emulator.client("ecs")
    assert set(env) == {"region", "cluster", "listener_arn", "load_balancer_arn", "vpc_id", "subnets", "security_groups"}
    assert ec2.describe_vpcs(VpcIds=[env["vpc_id"]])["Vpcs"][0]["CidrBlock"] == "10.0.0.0/16"
    subnets = ec2.describe_subnets(SubnetIds=env["subnets"])["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    lb = elbv2.describe_load_balancers(LoadBalancerArns=[env["load_balancer_arn"]])["LoadBalancers"][0]
    assert lb["Scheme"] == "internet-facing" and lb["Type"] == "application"
    assert sorted(z["SubnetId"] for z in lb["AvailabilityZones"]) == sorted(env["subnets"])
    listener = elbv2.describe_listeners(ListenerArns=[env["listener_arn"]])["Listeners"][0]
    assert listener["Port"] == 80 and listener["Protocol"] == "HTTP"
    action = listener["DefaultActions"][0]
    assert action["Type"] == "fixed-response" and action["FixedResponseConfig"]["StatusCode"] == "404"
    cluster = ecs.describe_clusters(clusters=[env["cluster"]])["clusters"][0]
    assert cluster["status"] == "ACTIVE" and env["cluster"] == "paas-devstack-tests"


def test_bootstrap_with_another_name_is_a_separate_environment(emulator, env):
    other = bootstrap_dev_environment(emulator.endpoint_url, region=emulator.region, name="devstack-other")
    assert other["vpc_id"] != env["vpc_id"]
    assert other["cluster"] == "paas-devstack-other"
