"""`paas dev push REPO:TAG`: an image push on the local stack, reported the way ECR reports one.

ECR's PutImage in moto stores the image but sends no "ECR Image Action" event (a moto gap), so
this puts the image (a small manifest unique to the push, so each push has its own digest) and
then sends the event ECR would send, with EventBridge PutEvents: moto delivers it to the SQS
target of a matching rule (checked: `tests/e2e/test_pipeline.py`), which is the path an AWS
account takes. Real AWS refuses PutEvents with an ``aws.*`` source; this is the emulator only.

``--profile`` picks how containers of the pushed image behave in the simulated data plane
(paas/devstack/profiles.py), by a glob on the image reference the pipeline deploys
(``URI:TAG@DIGEST``).

moto also derives an image's digest from its layers' digests rather than from the manifest, so
each push carries a layer of its own (else two pushes would share a digest).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"

PRESETS: dict[str, dict[str, Any]] = {
    "healthy": {"run_seconds": 0.5, "log": ["42 passed"]},
    "failing-tests": {"run_seconds": 0.5, "exit_code": 1,
                      "log": ["FAILED tests/test_basket.py::test_total - AssertionError: 10 != 12"],
                      "crash_message": "1 failed, 41 passed"},
    "errors": {"run_seconds": 0.5, "log": ["42 passed"], "error_rate": 0.3},
    "slow": {"run_seconds": 0.5, "log": ["42 passed"], "p99_ms": 3000.0},
    "hanging-tests": {"run_seconds": 3600.0, "log": ["collecting ..."]},
}


def image_glob(repository: str, tag: str) -> str:
    return f"*/{repository}:{tag}@*"


def push(client: Any, events: Any, repository: str, tag: str) -> dict[str, Any]:
    """PutImage (creating the repository if needed), then the push event; what was pushed."""
    try:
        client.create_repository(repositoryName=repository)
    except client.exceptions.RepositoryAlreadyExistsException:
        pass
    # moto derives the image digest from the layer digests (ECR: the manifest's sha256), so each
    # push gets a layer of its own
    unique = "sha256:" + hashlib.sha256(f"{repository}:{tag}:{uuid.uuid4()}".encode()).hexdigest()
    manifest = json.dumps({"schemaVersion": 2, "mediaType": MEDIA_TYPE,
                           "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                                      "digest": unique},
                           "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                                       "size": 1, "digest": unique}]})
    resp = client.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag,
                            imageManifestMediaType=MEDIA_TYPE)
    image = resp["image"]
    digest = image["imageId"]["imageDigest"]
    registry = image.get("registryId")
    detail = {"result": "SUCCESS", "repository-name": repository, "image-digest": digest, "action-type": "PUSH",
              "image-tag": tag}
    sent_at = time.time()
    out = events.put_events(Entries=[{"Source": "aws.ecr", "DetailType": "ECR Image Action",
                                      "Detail": json.dumps(detail), "Resources": []}])
    if out.get("FailedEntryCount"):
        raise RuntimeError(f"PutEvents failed: {out['Entries']}")
    uri = client.describe_repositories(repositoryNames=[repository])["repositories"][0]["repositoryUri"]
    return {"repository": repository, "tag": tag, "digest": digest, "registry_id": registry,
            "image": f"{uri}:{tag}@{digest}", "event_sent_at": sent_at}


def set_push_profile(profiles_path: Path, repository: str, tag: str, preset: str) -> None:
    from paas.devstack.profiles import set_profile

    set_profile(profiles_path, image_glob(repository, tag), **PRESETS[preset])


def dev_push(endpoint_url: str, region: str, reference: str, *, preset: str | None = None,
             profiles_path: Path | None = None) -> dict[str, Any]:
    import boto3

    from paas.domain.errors import UserError

    repository, sep, tag = reference.rpartition(":")
    if not sep or not repository or "/" in tag:
        raise UserError(f"invalid image {reference!r}: expected REPOSITORY:TAG, e.g. shop:main-3")
    from paas.domain.image import image_ref

    image_ref(reference)  # the OCI grammar: one line, exit 2 otherwise
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(f"unknown profile {preset!r}: one of {', '.join(PRESETS)}")
        if profiles_path is None:
            raise UserError("no profiles file: is `paas dev up` running?")
        set_push_profile(profiles_path, repository, tag, preset)
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        os.environ.setdefault(k, v)
    ecr = boto3.client("ecr", region_name=region, endpoint_url=endpoint_url)
    events = boto3.client("events", region_name=region, endpoint_url=endpoint_url)
    return push(ecr, events, repository, tag)
