"""Serve the sandbox's stand-in APIs until Ctrl-C.

    python -m sandbox.servers --data DIR --marketing-port 8765 --sgs-port 8766 [--token SECRET]

``--data`` defaults to the sandbox data directory (``.local/sandbox``); the token defaults to the
``MARKETING_API_TOKEN`` environment variable (no authentication when neither is set).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import threading
from pathlib import Path

from sandbox.servers.marketing_api import MarketingAPIServer
from sandbox.servers.sgs_api import SGSAPIServer


def _default_data_dir() -> Path:
    from warehouse.paths import sandbox_dir

    return sandbox_dir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sandbox.servers", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=Path, default=None, help="sandbox data directory (default .local/sandbox)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--marketing-port", type=int, default=8765, help="marketing API port (default 8765)")
    parser.add_argument("--sgs-port", type=int, default=8766, help="SGS API port (default 8766)")
    parser.add_argument(
        "--token",
        default=os.environ.get("MARKETING_API_TOKEN"),
        help="bearer token the marketing API requires (default $MARKETING_API_TOKEN; none: no auth)",
    )
    parser.add_argument("--log-level", default="INFO", help="INFO, or DEBUG to log every request")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    data_dir = (args.data or _default_data_dir()).resolve()
    if not data_dir.is_dir():
        parser.error(f"no data directory at {data_dir} (run `make generate` first, or pass --data)")

    marketing = MarketingAPIServer(
        data_dir, token=args.token or None, host=args.host, port=args.marketing_port
    ).preload()
    sgs = SGSAPIServer(data_dir, host=args.host, port=args.sgs_port)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with marketing, sgs:
        print(f"Serving {data_dir}", flush=True)
        auth = " (bearer token required)" if marketing.token else ""
        print(f"  marketing API: {marketing.url}/v1/channels | /v1/ad_spend | /v1/leads{auth}", flush=True)
        print(f"  SGS API:       {sgs.url}/dados/serie/bcdata.sgs.{{433,432}}/dados?formato=json", flush=True)
        print("Ctrl-C to stop.", flush=True)
        try:
            while not done.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
