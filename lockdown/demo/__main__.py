"""``python -m lockdown.demo``: run the demo site and identity provider until Ctrl+C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType

from lockdown.demo.errors import DemoSiteError
from lockdown.demo.site import DemoSite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lockdown.demo",
        description="Serve the lockdown demo exam site and its identity provider on loopback.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="site address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="site port (default: any free port)")
    parser.add_argument("--idp-host", default="127.0.0.2", help="IdP address (default 127.0.0.2)")
    parser.add_argument("--idp-port", type=int, default=0, help="IdP port (default: any)")
    parser.add_argument("--test-routes", action="store_true", help="also serve /_test/ routes")
    args = parser.parse_args(argv)
    try:
        site = DemoSite(args.host, args.idp_host, args.port, args.idp_port, args.test_routes)
        site.start()
    except DemoSiteError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:  # everything after start() is inside: an early Ctrl+C must still stop cleanly
        print(f"Demo site:         {site.base_url}")
        print(f"Identity provider: {site.idp_base_url}")
        print("Accounts: student/student, staff/staff. Press Ctrl+C to stop.", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        print("Stopping.")
    finally:
        site.stop()
    return 0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def stop_on_signals() -> None:
    """Ctrl+C and ``kill`` both stop the site cleanly. SIGINT is set explicitly: a script that
    starts the demo in the background (``cmd &``) hands it SIGINT ignored."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)


if __name__ == "__main__":
    stop_on_signals()
    sys.exit(main())
