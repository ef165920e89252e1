"""``python -m enterspeed_sync.testing``: run the stand-in on its own, to look at what arrives."""

from __future__ import annotations

import argparse
import time

from enterspeed_sync.testing.standin import IngestStandIn


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the Enterspeed ingest stand-in.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", action="append", dest="api_keys", metavar="KEY")
    args = parser.parse_args(argv)
    standin = IngestStandIn(
        api_keys=args.api_keys or ["source-standin"], host=args.host, port=args.port
    )
    standin.start()
    print(f"Ingest stand-in listening on {standin.url} (Ctrl-C stops it)", flush=True)  # noqa: T201
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        standin.stop()
