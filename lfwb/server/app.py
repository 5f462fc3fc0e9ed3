"""The FastAPI app over one Workbench: `create_app(workbench, token=None, cors=None, max_body=...)`.

    app = create_app(lfwb.workbench(), token="s3cret", cors=["http://localhost:5173"])

Guards (guards.py), outermost first: CORS when origins are given (off otherwise; a preflight is
answered before the token is asked for), the body cap (413, and 408 for a body that does not
arrive in time), the bearer token (401; compared in constant time; a WebSocket may send it as
`?token=`), the Host check (without a token, only a loopback name or the bound address: a web
page that rebinds its own DNS name to 127.0.0.1 is refused), then the page a WebSocket or a
state-changing request comes from (403 unless this server's own or a --cors origin). `/docs` and
`/openapi.json` stay open: they describe the API and hold no data. Slow clients are cut off
below the app, in uvicorn's protocol (connections.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from . import errors
from .guards import BodyCap, Cors, Guard

if TYPE_CHECKING:
    from ..workbench import Workbench

MAX_BODY_BYTES = 1 * 2**20  # a prompt or a context of a MiB is plenty; bigger ones are a mistake


def create_app(
    workbench: Workbench,
    token: str | None = None,
    cors: list[str] | str | None = None,
    max_body: int = MAX_BODY_BYTES,
    host: str | None = None,
    allow_remote_register: bool = False,
) -> FastAPI:
    """The app. Every route works on `workbench` (the kernel's, or one made for `lfwb serve`).
    `host` is the address it is bound to (a Host header naming it is accepted beside the loopback
    names); `allow_remote_register` lets `POST /models/register` send a key to a remote server."""
    from . import chat_ws, crud, evals, generate, openai_v1, pipelines, runtime

    origins = [cors] if isinstance(cors, str) else list(cors or [])
    app = FastAPI(
        title="lfwb",
        version=_version(),
        description="The models, runs and material of an lfwb workbench over HTTP. "
        "Errors are `{code, message, line}`; `line` is the one line a notebook shows, less its hint.",
    )
    app.state.workbench = workbench
    app.state.generating = {}  # run id → the handle writing it (streams.py), for /runs/{id}/cancel
    app.state.pipeline_runs = {}  # run id → the handle of a pipeline run started here (pipelines.py)
    app.state.eval_runs = {}  # run id → the handle of an eval started here (evals.py)
    app.state.allow_remote_register = allow_remote_register
    errors.install(app)
    for module in (crud, runtime, generate, pipelines, evals, chat_ws):
        app.include_router(module.router, prefix="/api/v1")
    app.include_router(openai_v1.router, prefix="/v1")
    # Added last, so they run first: a request without the token or over the cap reaches nothing.
    app.add_middleware(Guard, token=token, origins=origins, host=host)
    app.add_middleware(BodyCap, max_body=max_body)
    if origins:
        app.add_middleware(
            Cors, allow_origins=origins, allow_methods=["*"], allow_headers=["*"], allow_credentials=False
        )
    return app


def _version() -> str:
    from .. import __version__

    return __version__
