"""``python -m bench.baselines APP --host H --port P --workers N [--server S]``: a baseline
served exactly as ``stockroom serve`` serves Stockroom, with an import string and a factory.

- ``uvicorn`` (the default): ``uvicorn.run`` with only host, port and workers set (every other
  option at uvicorn's default).
- ``granian``: the runner ``stockroom serve --server granian`` uses
  (entrypoints/cli/servers.py), with its defaults (keep-alive, graceful timeout, access log,
  uvloop, HTTP/1.1, X-Forwarded-For from 127.0.0.1) and Granian's own log configuration and
  header limit (Stockroom's are Stockroom's: uvicorn's baseline has neither either).
"""

import argparse

if __name__ == "__main__":  # not when the servers' spawned workers import this module again
    parser = argparse.ArgumentParser(prog="python -m bench.baselines")
    parser.add_argument("app", choices=["ceiling", "classic_sync", "classic_async"])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--server", choices=["uvicorn", "granian"], default="uvicorn")
    args = parser.parse_args()
    app = f"bench.baselines.{args.app}:create_app"
    if args.server == "granian":
        from entrypoints.cli.serve import DEFAULT_GRACEFUL_TIMEOUT, DEFAULT_KEEP_ALIVE
        from entrypoints.cli.servers import ServeOptions, run_granian

        options = ServeOptions(
            host=args.host,
            port=args.port,
            workers=args.workers,
            graceful_timeout=DEFAULT_GRACEFUL_TIMEOUT,
            keep_alive=DEFAULT_KEEP_ALIVE,
            forwarded_allow_ips=None,
            log_config=None,
        )
        run_granian(app, options)
    else:
        import uvicorn

        uvicorn.run(app, factory=True, host=args.host, port=args.port, workers=args.workers)
