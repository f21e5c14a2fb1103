"""``python -m bench.baselines APP --host H --port P --workers N``: a baseline served as
``stockroom serve`` serves Stockroom: ``uvicorn.run`` with an import string and a factory, and
every other option at uvicorn's default (httptools, uvloop, access log at INFO)."""

import argparse

import uvicorn

if __name__ == "__main__":  # not when uvicorn's spawned workers import this module again
    parser = argparse.ArgumentParser(prog="python -m bench.baselines")
    parser.add_argument("app", choices=["ceiling", "classic_async", "advanced_alchemy_app"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    app = f"bench.baselines.{args.app}:create_app"
    uvicorn.run(app, factory=True, host=args.host, port=args.port, workers=args.workers)
