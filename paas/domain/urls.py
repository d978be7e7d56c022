"""Where an app can be reached: the URL of each web process's listener rule.

The host is the route's own (`[routing] host`), else `<app>.<app domain>` of the environment
(the same rule paas.planner.priorities applies to the listener rule). A route without a host,
or with a wildcard host, has no URL paas can name: it answers on the load balancer's own DNS
name or any matching host. The path is the first path pattern up to its first wildcard.
"""

from __future__ import annotations

from paas.domain.manifest import Manifest


def _url(host: str | None, paths: tuple[str, ...], scheme: str) -> str | None:
    if not host or "*" in host or "?" in host:
        return None
    pattern = paths[0] if paths else "/"
    cut = min((i for i in (pattern.find("*"), pattern.find("?")) if i >= 0), default=len(pattern))
    path = pattern[:cut]
    if cut < len(pattern):  # "/checkout/*" → "/checkout/", "/api*" → "/"
        path = path[: path.rfind("/") + 1]
    return f"{scheme}://{host.lower()}{path or '/'}"


def web_urls(manifest: Manifest, app: str, app_domain: str | None, scheme: str = "https") -> dict[str, str]:
    """{web process: URL} for the processes that have one, in the manifest's order."""
    out = {}
    for name, route in manifest.web_routes().items():
        host = route.host or (f"{app}.{app_domain}" if app_domain else None)
        url = _url(host, route.paths, scheme)
        if url:
            out[name] = url
    return out
