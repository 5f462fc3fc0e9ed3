"""`lfwb serve [--host 127.0.0.1] [--port 7860] [--db PATH] [--token T|auto] [--cors ORIGIN]
[--allow-remote-register]`, and `lfwb browse [--db PATH] [--port 8001]`.

The console script: a Workbench on `--db` (default ./lfwb.db or $LFWB_DB) served in the
foreground until Ctrl-C or SIGTERM (answers in progress get a moment, then the store is closed
and it exits 0). Inside a notebook, `%lfw serve` serves the kernel's own Workbench.
`lfwb browse` opens the store read-only in Datasette (lfwb/browse.py) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import signal
import sys

from ..errors import LfwbError
from .background import DEFAULT_HOST, DEFAULT_PORT, bind, checked_token


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lfwb", description="lfwb, the LLM workbench")
    sub = p.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the workbench over HTTP (REST, WebSocket chat, OpenAI /v1)")
    serve.add_argument(
        "--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST}: this machine only)"
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0: a free one)")
    serve.add_argument("--db", help="the store file (default ./lfwb.db or $LFWB_DB)")
    serve.add_argument(
        "--token", help="require this bearer token ('auto': make one and print it once); needed off 127.0.0.1"
    )
    serve.add_argument(
        "--cors",
        action="append",
        metavar="ORIGIN",
        help="allow this browser origin (repeatable); CORS is off otherwise",
    )
    serve.add_argument(
        "--allow-remote-register",
        action="store_true",
        help="let POST /models/register name a remote --base-url that is sent an API key",
    )
    browse = sub.add_parser("browse", help="the store in Datasette on 127.0.0.1, read-only (the browse extra)")
    browse.add_argument("--db", help="the store file (default ./lfwb.db or $LFWB_DB)")
    browse.add_argument("--port", type=int, default=8001, help="port (default 8001; 0: a free one)")
    return p


class Stopped(Exception):
    """Ctrl-C or SIGTERM: uvicorn shuts down on the first, then raises it again for us."""


def _stopped(signum: int, frame: object) -> None:
    raise Stopped


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "browse":
        return browse(args)
    try:
        token, made = checked_token(args.host, args.token)
        sock = bind(args.host, args.port)  # before the store is opened: a refused address makes nothing
    except LfwbError as e:
        print(f"lfwb serve: {e}", file=sys.stderr)
        return 2
    try:
        import uvicorn

        from ..workbench import Workbench
        from .app import create_app
        from .background import uvicorn_config
        from .connections import raise_file_limit

        wb = Workbench(args.db)
    except LfwbError as e:
        sock.close()
        print(f"lfwb serve: {e}", file=sys.stderr)
        return 2
    if made:
        print(f"lfwb serve: token {token} (shown once; send it as 'Authorization: Bearer TOKEN')", flush=True)
    host = f"[{args.host}]" if ":" in args.host else args.host
    port = sock.getsockname()[1]  # the real one when --port 0 asked for a free one
    print(f"lfwb serve: http://{host}:{port} (store {wb.path}; docs at /docs; Ctrl-C stops)", flush=True)
    app = create_app(wb, token=token, cors=args.cors, host=args.host, allow_remote_register=args.allow_remote_register)
    raise_file_limit()  # the cap on connections follows it (connections.py)
    for sig in (signal.SIGINT, signal.SIGTERM):  # not Python's KeyboardInterrupt traceback, nor death by signal
        signal.signal(sig, _stopped)
    try:
        uvicorn.Server(uvicorn_config(app, args.host, port)).run(sockets=[sock])
    except Stopped:
        pass
    finally:
        wb.unload_models()
        wb.close()
    return 0


def browse(args: argparse.Namespace) -> int:
    """Datasette in its own process until Ctrl-C or SIGTERM; no Workbench (nothing is migrated)."""
    from .. import browse as datasette
    from ..store.connection import default_db_path

    try:
        browser = datasette.start(args.db or default_db_path(), port=args.port)
    except LfwbError as e:
        print(f"lfwb browse: {e}", file=sys.stderr)
        return 2
    print(f"lfwb browse: {browser.url} (read-only; Ctrl-C stops)", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _stopped)
    try:
        browser.process.wait()
    except Stopped:
        pass
    finally:
        browser.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
