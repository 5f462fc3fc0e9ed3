"""The eight runtime endpoints: register, load, unload, list, info, health, stats (and
`POST /generate`, in generate.py). Each is the RuntimeManager call `%lfw` makes.

A model registered over HTTP cannot be made to carry this machine's secrets away: its
`api_key_env` may name only its backend's own key variables, and a remote `base_url` that
would be sent a key needs the server started with `--allow-remote-register`.

A load can take seconds and waits for a busy model: it runs on a thread of its own, never in
the threadpool the store's routes share.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from ..errors import BadInput, LfwbError
from .background import is_loopback
from .crud import workbench
from .errors import ERROR_RESPONSES
from .schemas import ModelName, Name, RegisterIn
from .streams import on_own_thread

router = APIRouter(tags=["models"], responses=ERROR_RESPONSES)


class ModelRow(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    runtime: str
    loaded: bool


class Done(BaseModel):
    name: str
    loaded: bool


@router.post("/models/register", status_code=201, response_model=dict[str, Any])
def register(body: RegisterIn, request: Request) -> dict:
    """Register a model (nothing loads until it is used); kept in the store, as `%lfw register`."""
    manager = workbench(request).manager
    check_keys_stay_home(body, manager, request.app.state.allow_remote_register)
    config = manager.register(**body.model_dump())
    return {k: v for k, v in config.to_dict().items() if v not in (None, {}, "")}


def check_keys_stay_home(body: RegisterIn, manager: Any, allow_remote: bool) -> None:
    """Refuse a registration that would send an environment variable, or a key, to a server the
    HTTP client chose: `api_key_env` naming anything but the backend's key variables ($HOME,
    $JUPYTER_TOKEN, another provider's key), or a key bound for a remote `base_url` unless the
    server was started with --allow-remote-register."""
    try:
        backend = manager.backend(body.runtime)
    except LfwbError:
        return  # an unknown runtime: register says so, in its own words
    declared = tuple(getattr(backend, "key_env_vars", ()))
    named = body.options.get("api_key_env")
    if named is not None and named not in declared:
        allowed = f"only {' or '.join(declared)}" if declared else "no variable"
        raise BadInput(f"over HTTP a {body.runtime} model's api_key_env may name {allowed}, not {str(named)[:100]!r} "
                       "— register it in the notebook with %lfw register ... --api-key-env VAR")
    base_url = body.options.get("base_url")
    sends_key = named is not None or bool(getattr(backend, "needs_key", False))
    if base_url is None or not sends_key or allow_remote:
        return
    try:
        where = urlsplit(str(base_url)).hostname or ""
    except ValueError:
        return  # not a URL: the backend's own check refuses it
    if not is_loopback(where):
        raise BadInput(f"over HTTP a {body.runtime} model on a remote --base-url ({where[:100]}) would be sent an "
                       "API key — start the server with --allow-remote-register, or register it in the notebook")


@router.post("/models/load", response_model=Done)
async def load(body: ModelName, request: Request) -> Done:
    """Load now rather than on first use (waits while the model is busy)."""
    manager = workbench(request).manager
    await on_own_thread(lambda: manager.load(body.name))
    return Done(name=body.name, loaded=True)


@router.post("/models/unload", response_model=Done)
async def unload(body: ModelName, request: Request) -> Done:
    manager = workbench(request).manager
    await on_own_thread(lambda: manager.unload(body.name))
    return Done(name=body.name, loaded=False)


@router.get("/models", response_model=list[ModelRow])
def list_models(request: Request) -> list[dict]:
    """Registered models: runtime, loaded or not, memory, source (`%lfw models`)."""
    return workbench(request).manager.list()


@router.get("/models/{name}", response_model=dict[str, Any])
def model_info(name: Name, request: Request) -> dict:
    """One model's settings, estimate and state (`%lfw info NAME`)."""
    return workbench(request).manager.info(name)


@router.get("/health", response_model=dict[str, Any])
def health(request: Request) -> dict:
    """The server is up; can each model run (files present, keys set)?"""
    wb = workbench(request)
    return {"status": "ok", "store": wb.store.path, "models": wb.manager.health()}


@router.get("/stats", response_model=dict[str, Any])
def stats(request: Request) -> dict:
    """Per-model runs, tokens and memory; the process's memory and the budget (`%lfw stats`)."""
    return workbench(request).manager.stats()
