"""OCI image references: the grammar of distribution/reference, anchored and ASCII-only.

A registry port is 1-65535 and a digest uses a registered algorithm with its exact length of
lowercase hex (OCI image spec, go-digest), as registries and ECS require.
"""

from __future__ import annotations

import re

from paas.domain.errors import UserError
from paas.domain.frozen import Frozen, setfield
from paas.domain.text import show
from paas.domain.lazyre import lazy

# Grammar from distribution/reference (the OCI de-facto grammar), anchored.

_ALNUM = r"[a-z0-9]+"
_SEP = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEP}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::(?P<port>[0-9]{{1,5}}))?"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = lazy(
    rf"(?P<name>(?:(?P<domain>{_DOMAIN})/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?",
    re.ASCII,
)
_NAME_MAX = 255
_DIGEST_HEX = {"sha256": 64, "sha384": 96, "sha512": 128}


class ImageRef(Frozen):
    """A parsed image reference: repository (with registry), and a tag, a digest or both."""

    __slots__ = ("repository", "tag", "digest")
    repository: str
    tag: str | None
    digest: str | None

    def __init__(self, repository: str, tag: str | None, digest: str | None) -> None:
        setfield(self, "repository", repository)
        setfield(self, "tag", tag)
        setfield(self, "digest", digest)

    def __str__(self) -> str:
        s = self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s


def image_ref(value: str) -> ImageRef:
    """Parse an OCI image reference; a bare name means tag `latest`, as docker does."""
    if not isinstance(value, str):
        raise UserError(f"invalid image reference {show(value)}")
    m = _REFERENCE_RE.fullmatch(value)
    if not m:
        raise UserError(
            f"invalid image reference {show(value)}: expected [registry/]name[:tag][@sha256:digest]"
        )
    repo = m.group("name")
    domain = m.group("domain")
    if m.group("port") is not None and not 1 <= int(m.group("port")) <= 65535:
        raise UserError(f"invalid image reference {show(value)}: the registry port must be 1-65535")
    # A first component without '.', ':' or 'localhost' is a path, not a registry, and paths
    # are lowercase only: 'Foo/bar' is rejected here like docker does.
    if domain and not ("." in domain or ":" in domain or domain == "localhost"):
        if domain != domain.lower():
            raise UserError(f"invalid image reference {show(value)}: repository names are lowercase")
    if len(repo) > _NAME_MAX:
        raise UserError(f"invalid image reference: repository name longer than {_NAME_MAX} characters")
    digest = m.group("digest")
    if digest:
        # The grammar admits any algorithm; registries and ECS accept the registered ones only
        # (OCI image spec, go-digest), with lowercase hex of the algorithm's exact length.
        algo, _, hexpart = digest.partition(":")
        size = _DIGEST_HEX.get(algo)
        if size is None:
            raise UserError(f"invalid image digest {show(digest)}: the algorithm must be sha256, sha384 or sha512")
        if not re.fullmatch(rf"[0-9a-f]{{{size}}}", hexpart, re.ASCII):
            raise UserError(f"invalid image digest {show(digest)}: {algo} takes {size} lowercase hex digits")
    tag = m.group("tag")
    if tag is None and digest is None:
        tag = "latest"
    return ImageRef(repo, tag, digest)
