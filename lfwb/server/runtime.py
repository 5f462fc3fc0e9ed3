"""The eight runtime endpoints at the seed's paths under `/api/v1/runtime/`: `models/register`,
`models/load`, `models/unload`, `models`, `models/{id}/info`, `generate` (generate.py),
`health`, `stats`. Each is the Workbench call `%lfw` makes (lfwb/workbench_models.py). The seed's own requests work
as written:

    POST /api/v1/runtime/models/register {"model_id": "m.gguf", "model_name": "m", "runtime_type": "llama_cpp"}
    POST /api/v1/runtime/models/load?model_name=m
    POST /api/v1/runtime/generate {"model_name": "m", "prompt": "Hi", "max_tokens": 20}

(lfwb's own names — `name`, `source`, `runtime`, a `{"name"}` body — work beside them). The
same routes also answer at lfwb's earlier paths (`/api/v1/models/...`, `/api/v1/health`,
`/api/v1/stats`), left out of the OpenAPI document.

A model registered over HTTP cannot be made to carry this machine's secrets away: its
`api_key_env` may name only its backend's own key variables, and a remote `base_url` that
would be sent a key needs the server started with `--allow-remote-register`.

A load can take seconds and waits for a busy model: it runs on a thread of its own, never in
the threadpool the store's routes share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from ..errors import BadInput, LfwbError, ModelLoadError
from .background import is_loopback
from .crud import workbench
from .errors import ERROR_RESPONSES
from .schemas import ModelName, Name, RegisterIn
from .streams import on_own_thread

if TYPE_CHECKING:
    from ..workbench import Workbench

router = APIRouter(tags=["models"], responses=ERROR_RESPONSES)


class ModelRow(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    runtime: str
    loaded: bool


class Done(BaseModel):
    name: str
    loaded: bool


@router.post("/runtime/models/register", status_code=201, response_model=dict[str, Any])
@router.post("/models/register", status_code=201, response_model=dict[str, Any], include_in_schema=False)
def register(body: RegisterIn, request: Request) -> dict:
    """Register a model (nothing loads until it is used); kept in the store, as `%lfw register`."""
    wb = workbench(request)
    check_keys_stay_home(body, wb, request.app.state.allow_remote_register)
    values = body.model_dump(exclude={"model_type"})
    if body.model_type is not None:  # the seed's label for it, kept with the registration
        values["options"] = {**values["options"], "model_type": body.model_type}
    try:
        config = wb.register_model(**values)
    except ModelLoadError as e:  # registering reads only the source it was given: the client's input
        raise BadInput(str(e)) from None
    return {k: v for k, v in config.to_dict().items() if v not in (None, {}, "")}


def check_keys_stay_home(body: RegisterIn, wb: Workbench, allow_remote: bool) -> None:
    """Refuse a registration that would send an environment variable, or a key, to a server the
    HTTP client chose: `api_key_env` naming anything but the backend's key variables ($HOME,
    $JUPYTER_TOKEN, another provider's key), or a key bound for a remote `base_url` unless the
    server was started with --allow-remote-register."""
    try:
        backend = wb.backend(body.runtime)
    except LfwbError:
        return  # an unknown runtime: register says so, in its own words
    declared = tuple(getattr(backend, "key_env_vars", ()))
    named = body.options.get("api_key_env")
    if named is not None and named not in declared:
        allowed = f"only {' or '.join(declared)}" if declared else "no variable"
        raise BadInput(
            f"over HTTP a {body.runtime} model's api_key_env may name {allowed}, not {str(named)[:100]!r} "
            "— register it in the notebook instead"
        )
    base_url = body.options.get("base_url")
    sends_key = named is not None or bool(getattr(backend, "needs_key", False))
    if base_url is None or not sends_key or allow_remote:
        return
    try:
        where = urlsplit(str(base_url)).hostname or ""
    except ValueError:
        return  # not a URL: the backend's own check refuses it
    if not is_loopback(where):
        raise BadInput(
            f"over HTTP a {body.runtime} model on a remote base_url ({where[:100]}) would be sent an "
            "API key — start the server with --allow-remote-register, or register it in the notebook"
        )


ModelQuery = Annotated[
    str | None, Query(min_length=1, max_length=200, description="the model's name (or a `name` body)")
]


def named(body: ModelName | None, model_name: str | None) -> str:
    """The model a load or unload is about: `?model_name=` (the seed's) or a `{"name"}` body."""
    if body is not None and model_name is not None and body.name != model_name:
        raise BadInput(f"two models named: {model_name!r} in ?model_name= and {body.name!r} in the body — give one")
    name = model_name if model_name is not None else body.name if body is not None else None
    if name is None:
        raise BadInput('which model? give ?model_name=NAME or a JSON body {"name": NAME}')
    return name


@router.post("/runtime/models/load", response_model=Done)
@router.post("/models/load", response_model=Done, include_in_schema=False)
async def load(request: Request, body: ModelName | None = None, model_name: ModelQuery = None) -> Done:
    """Load now rather than on first use (waits while the model is busy)."""
    name, wb = named(body, model_name), workbench(request)
    await on_own_thread(lambda: wb.load_model(name))
    return Done(name=name, loaded=True)


@router.post("/runtime/models/unload", response_model=Done)
@router.post("/models/unload", response_model=Done, include_in_schema=False)
async def unload(request: Request, body: ModelName | None = None, model_name: ModelQuery = None) -> Done:
    name, wb = named(body, model_name), workbench(request)
    await on_own_thread(lambda: wb.unload_model(name))
    return Done(name=name, loaded=False)


@router.get("/runtime/models", response_model=list[ModelRow])
@router.get("/models", response_model=list[ModelRow], include_in_schema=False)
def list_models(request: Request) -> list[dict]:
    """Registered models: runtime, loaded or not, memory, source (`%lfw models`)."""
    return workbench(request).models()


@router.get("/runtime/models/{name}/info", response_model=dict[str, Any])
@router.get("/models/{name}", response_model=dict[str, Any], include_in_schema=False)
def model_info(name: Name, request: Request) -> dict:
    """One model's settings, estimate and state (`%lfw info NAME`)."""
    return workbench(request).model_info(name)


@router.get("/runtime/health", response_model=dict[str, Any])
@router.get("/health", response_model=dict[str, Any], include_in_schema=False)
def health(request: Request) -> dict:
    """The server is up; can each model run (files present, keys set)?"""
    wb = workbench(request)
    return {"status": "ok", "store": wb.path, "models": wb.model_health()}


@router.get("/runtime/stats", response_model=dict[str, Any])
@router.get("/stats", response_model=dict[str, Any], include_in_schema=False)
def stats(request: Request) -> dict:
    """Per-model runs, tokens and memory; the process's memory and the budget (`%lfw stats`)."""
    return workbench(request).model_stats()
