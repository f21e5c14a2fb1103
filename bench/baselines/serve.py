"""Serve a baseline exactly as ``stockroom serve`` serves Stockroom: ``uvicorn.run`` with an
import string, a factory, and only host, port and workers set (every other option default)."""

from __future__ import annotations

import argparse

import uvicorn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("app", choices=["ceiling", "classic_sync", "classic_async"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    uvicorn.run(
        f"bench.baselines.{args.app}:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
    )


if __name__ == "__main__":
    main()
