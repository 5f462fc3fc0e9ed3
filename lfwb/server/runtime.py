"""The eight runtime endpoints: register, load, unload, list, info, health, stats (and
`POST /generate`, in generate.py). Each is the RuntimeManager call `%lfw` makes.

A load can take seconds and waits for a busy model: it runs on a thread of its own, never in
the threadpool the store's routes share.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

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
    config = workbench(request).manager.register(**body.model_dump())
    return {k: v for k, v in config.to_dict().items() if v not in (None, {}, "")}


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
