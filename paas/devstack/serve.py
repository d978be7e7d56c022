"""Run just the emulator (moto + the simulated data plane) in this process, in the foreground.

    python -m paas.devstack.serve [--port 0] [--region us-east-1] [--profiles FILE]
                                  [--settings '{"metric_period_seconds": 60}'] [--bootstrap NAME]

Prints one JSON line on stdout (``endpoint_url``, ``region``, ``profiles_path``, and the
bootstrapped environment under ``env`` when ``--bootstrap`` is given), then serves until
stdin closes or SIGTERM/SIGINT. Tests use it for an emulator with its own clock: set
``PAAS_CLOCK_EPOCH`` / ``PAAS_CLOCK_RATE`` in its environment (``paas.clock``) and a minute
of simulated time passes in two seconds at rate 30, while the test process keeps real time.
No database, no worker: ``paas dev up`` is the whole stack.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m paas.devstack.serve", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--profiles", default=None, help="behaviour-profile file (default: a private temp file)")
    parser.add_argument("--settings", default="{}", help="DataPlaneSettings fields as a JSON object")
    parser.add_argument("--bootstrap", default=None, help="also bootstrap an environment of this name")
    args = parser.parse_args(argv)

    from paas import clock

    try:
        clock.warp()
        settings_changes = json.loads(args.settings)
        if not isinstance(settings_changes, dict):
            raise ValueError("--settings must be a JSON object")
        from paas.devstack.dataplane import DataPlaneSettings

        settings = DataPlaneSettings(**settings_changes)
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from paas.devstack.bootstrap import bootstrap_dev_environment
    from paas.devstack.emulator import start_emulator

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    emu = start_emulator(port=args.port, region=args.region, profiles_path=args.profiles, dataplane_settings=settings)
    try:
        info = {"endpoint_url": emu.endpoint_url, "region": emu.region, "profiles_path": str(emu.profiles_path)}
        if args.bootstrap:
            info["env"] = bootstrap_dev_environment(emu.endpoint_url, emu.region, args.bootstrap)
        print(json.dumps(info), flush=True)

        def watch_stdin() -> None:
            try:
                sys.stdin.read()
            finally:
                stop.set()

        threading.Thread(target=watch_stdin, daemon=True).start()
        stop.wait()
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
