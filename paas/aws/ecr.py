"""ECR: resolve an image tag to the digest a release pins."""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

from paas.aws.api import Api, rid
from paas.aws.errors import error_message
from paas.domain.errors import PermanentError

_ECR_IMAGE = re.compile(
    r"^(?P<registry>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?"
    r"/(?P<repo>[^:@]+)(?::(?P<tag>[^@]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$")


class Ecr:
    def __init__(self, api: Api) -> None:
        self.api = api

    def resolve_digest(self, image: str) -> str | None:
        """sha256 digest when the image lives in an ECR repository (None for other registries)."""
        m = _ECR_IMAGE.match(image)
        if not m:
            return None
        if m.group("digest"):
            return m.group("digest")
        repo, tag = m.group("repo"), m.group("tag") or "latest"
        try:
            resp = self.api.call("ecr", "DescribeImages",
                                 allow=("ImageNotFoundException", "RepositoryNotFoundException"),
                                 region=m.group("region"), registryId=m.group("registry"),
                                 repositoryName=repo, imageIds=[{"imageTag": tag}])
        except ClientError as e:
            raise PermanentError(f"ecr:DescribeImages: image {image} not found: {error_message(e)}",
                                 rid(e.response)) from e
        details = resp.get("imageDetails") or []
        return details[0].get("imageDigest") if details else None
