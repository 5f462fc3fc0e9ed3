"""`%lfw serve [--host H] [--port P] [--token T] [--cors ORIGIN] [--allow-remote-register]`, `--stop`, `--status`:
the HTTP server (lfwb/server) on a thread in this kernel, over the kernel's own Workbench."""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments

from ..errors import BadInput
from .registry import Invocation, subcommand
from .rows import Record


@subcommand("serve")
@magic_arguments("lfw serve")
@argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
@argument("--port", type=int, default=7860, help="port (default 7860; 0: a free one)")
@argument("--token", help="require this bearer token ('auto': make one, printed once); needed off 127.0.0.1")
@argument("--cors", action="append", metavar="ORIGIN", help="allow this browser origin (repeatable)")
@argument(
    "--allow-remote-register",
    action="store_true",
    help="let POST /models/register name a remote --base-url that is sent an API key",
)
@argument("--stop", action="store_true", help="stop the kernel's server")
@argument("--status", action="store_true", help="is it running, and where")
def serve(ctx: Invocation, args) -> Record:
    """Serve this kernel's workbench over HTTP: REST /api/v1, WebSocket chat, OpenAI /v1."""
    from ..server import background

    if args.stop and args.status:
        raise BadInput("give --stop or --status, not both")
    if args.stop:
        return Record(background.stop())
    if args.status:
        return Record(background.status())
    running = background.start(
        ctx.workbench,
        host=args.host,
        port=args.port,
        token=args.token,
        cors=args.cors,
        allow_remote_register=args.allow_remote_register,
    )
    return Record(running.status())


@subcommand("browse")
@magic_arguments("lfw browse")
@argument("--port", type=int, default=0, help="port (default 0: a free one)")
@argument("--stop", action="store_true", help="stop the Datasette this kernel started")
def browse(ctx: Invocation, args) -> Record:
    """Open the store in Datasette on 127.0.0.1, read-only: tables, full-text search, canned queries.

    Datasette runs as a process of its own (it may bring its own SQLite library, which must stay
    out of the kernel that writes the store). Needs the `browse` extra: pip install 'lfwb[browse]'.
    """
    from .. import browse as datasette

    if args.stop:
        stopped = datasette.stop_all()
        return Record(browse="stopped" if stopped else "not running")
    return Record(datasette.start(ctx.workbench.path, port=args.port).status())
