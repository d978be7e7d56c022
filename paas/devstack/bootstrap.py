"""Create the network and cluster a paas environment needs, against any AWS endpoint.

Used by ``paas dev up`` against the embedded emulator (it works the same against real AWS,
but there you would normally build this with your own IaC). Every call is idempotent:
resources are found first by the tag ``paas:devstack=<name>`` (or by their unique name:
ALB ``paas-<name>``, cluster ``paas-<name>``, listener port 80), and only missing ones are
created, so a second call creates nothing and returns the same ids.
"""

from __future__ import annotations

from typing import Any

import boto3

TAG_KEY = "paas:devstack"
VPC_CIDR = "10.0.0.0/16"
SUBNET_CIDRS = ("10.0.0.0/20", "10.0.16.0/20")


def _client(service: str, endpoint_url: str | None, region: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        aws_session_token="testing",
    )


def _tags(name: str, resource: str) -> list[dict[str, str]]:
    return [{"Key": TAG_KEY, "Value": name}, {"Key": "Name", "Value": f"paas-{name}-{resource}"}]


def _tag_spec(kind: str, name: str, resource: str) -> list[dict[str, Any]]:
    return [{"ResourceType": kind, "Tags": _tags(name, resource)}]


def _tag_filter(name: str) -> dict[str, Any]:
    return {"Name": f"tag:{TAG_KEY}", "Values": [name]}


def bootstrap_dev_environment(endpoint_url: str | None, region: str = "us-east-1", name: str = "dev") -> dict[str, Any]:
    """Ensure VPC, two subnets in two AZs, security group, internet-facing ALB with an HTTP
    :80 listener (default action: fixed 404) and ECS cluster ``paas-<name>`` exist.

    Returns {"region", "cluster", "listener_arn", "load_balancer_arn", "vpc_id",
    "subnets": [...], "security_groups": [...]}.
    """
    ec2 = _client("ec2", endpoint_url, region)
    elbv2 = _client("elbv2", endpoint_url, region)
    ecs = _client("ecs", endpoint_url, region)

    # VPC
    vpcs = ec2.describe_vpcs(Filters=[_tag_filter(name)])["Vpcs"]
    if vpcs:
        vpc_id = sorted(v["VpcId"] for v in vpcs)[0]
    else:
        vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR, TagSpecifications=_tag_spec("vpc", name, "vpc"))["Vpc"]["VpcId"]
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})

    # Internet gateway (an internet-facing ALB needs one in real AWS).
    igws = ec2.describe_internet_gateways(Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]
    if not igws:
        igw_id = ec2.create_internet_gateway(TagSpecifications=_tag_spec("internet-gateway", name, "igw"))[
            "InternetGateway"
        ]["InternetGatewayId"]
        ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
        tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
        for table in tables:
            if any(a.get("Main") for a in table.get("Associations", [])):
                ec2.create_route(RouteTableId=table["RouteTableId"], DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)

    # Subnets, one per AZ.
    existing = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, _tag_filter(name)])["Subnets"]
    by_cidr = {s["CidrBlock"]: s["SubnetId"] for s in existing}
    zones = [
        z["ZoneName"]
        for z in ec2.describe_availability_zones(Filters=[{"Name": "state", "Values": ["available"]}])["AvailabilityZones"]
    ][:2]
    if len(zones) < 2:
        raise RuntimeError(f"region {region} reports fewer than two availability zones")
    subnets = []
    for i, (cidr, zone) in enumerate(zip(SUBNET_CIDRS, zones)):
        subnet_id = by_cidr.get(cidr)
        if subnet_id is None:
            subnet_id = ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=cidr, AvailabilityZone=zone,
                TagSpecifications=_tag_spec("subnet", name, f"subnet-{i + 1}"),
            )["Subnet"]["SubnetId"]
        subnets.append(subnet_id)

    # Security group: HTTP in from anywhere, everything inside the group.
    sg_name = f"paas-{name}"
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "vpc-id", "Values": [vpc_id]}, {"Name": "group-name", "Values": [sg_name]}]
    )["SecurityGroups"]
    if groups:
        sg_id = groups[0]["GroupId"]
    else:
        sg_id = ec2.create_security_group(
            GroupName=sg_name, Description=f"paas {name} environment", VpcId=vpc_id,
            TagSpecifications=_tag_spec("security-group", name, "sg"),
        )["GroupId"]
        ec2.authorize_security_group_ingress(
            GroupId=sg_id,
            IpPermissions=[
                {"IpProtocol": "tcp", "FromPort": 80, "ToPort": 80, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
                {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg_id}]},
            ],
        )

    # Load balancer.
    lb_name = f"paas-{name}"[:32]
    try:
        lb_arn = elbv2.describe_load_balancers(Names=[lb_name])["LoadBalancers"][0]["LoadBalancerArn"]
    except elbv2.exceptions.LoadBalancerNotFoundException:
        lb_arn = elbv2.create_load_balancer(
            Name=lb_name, Subnets=subnets, SecurityGroups=[sg_id], Scheme="internet-facing",
            Type="application", IpAddressType="ipv4", Tags=_tags(name, "alb"),
        )["LoadBalancers"][0]["LoadBalancerArn"]

    listeners = elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
    http = [lst for lst in listeners if lst["Port"] == 80]
    if http:
        listener_arn = http[0]["ListenerArn"]
    else:
        listener_arn = elbv2.create_listener(
            LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
            DefaultActions=[{
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "404", "ContentType": "text/plain", "MessageBody": "no route"},
            }],
            Tags=_tags(name, "listener"),
        )["Listeners"][0]["ListenerArn"]

    # ECS cluster.
    cluster_name = f"paas-{name}"
    clusters = ecs.describe_clusters(clusters=[cluster_name])["clusters"]
    if not any(c["status"] == "ACTIVE" for c in clusters):
        ecs.create_cluster(clusterName=cluster_name, tags=[{"key": TAG_KEY, "value": name}])

    return {
        "region": region,
        "cluster": cluster_name,
        "listener_arn": listener_arn,
        "load_balancer_arn": lb_arn,
        "vpc_id": vpc_id,
        "subnets": subnets,
        "security_groups": [sg_id],
    }
