"""Money: what runs cost, what is left of a budget, and refusing a call that could pass it.

    %lfw budget project 5        # this project may spend $5 in all
    %lfw budget session 0.50     # this kernel may spend $0.50 (or %config Lfwb.session_budget_usd)
    %lfw cost --by model         # what was spent, per model

Before a priced model is called, its worst case — the prompt (counted locally, erring high)
plus `max_tokens` of output, at the price table's rates — is added to what the project and
the session have spent. If that passes a limit the call is refused before anything is sent,
and a fallback chain moves on to its next model. Local models cost nothing and always pass.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .errors import BudgetExceeded, BadInput
from .runtimes.pricing import estimate_prompt_tokens
from .store import settings

if TYPE_CHECKING:
    from .runtimes import GenerationConfig, RuntimeManager
    from .store import Store

COST_GROUPS = ("model", "project", "day")


def usd(amount: float | None) -> str:
    """`usd(0.0213)` → '$0.0213', `usd(0.5)` → '$0.50'; whole cents from $10 up."""
    amount = amount or 0.0
    if amount >= 10:
        return f"${amount:,.2f}"
    whole, cents = f"{amount:.{4 if amount >= 0.01 else 6}f}".split(".")
    return f"${whole}.{cents.rstrip('0').ljust(2, '0')}"


def project_spent(store: Store, project_id: int) -> float:
    rows = store.query("SELECT coalesce(sum(cost_usd), 0) AS spent FROM runs WHERE project_id = ?", (project_id,))
    return float(rows[0]["spent"])


def note_spend(manager: RuntimeManager, cost_usd: float | None) -> None:
    """Add a finished run's cost to what this session has spent."""
    if cost_usd:
        manager.session_spent_usd += float(cost_usd)


def worst_case(manager: RuntimeManager, model: str, gen: GenerationConfig) -> tuple[float, int]:
    """(the most a call of `gen` on `model` can cost in USD, the prompt tokens it assumes)."""
    config = manager.config(model)
    prompt_tokens = estimate_prompt_tokens(gen.prompt, gen.messages)
    if manager.backend(config.runtime).local:
        return 0.0, prompt_tokens
    return manager.settings.prices.worst_case_usd(config.source, prompt_tokens, gen.max_tokens) or 0.0, prompt_tokens


def check_budget(store: Store, manager: RuntimeManager, project_id: int, model: str, gen: GenerationConfig) -> None:
    """Refuse (BudgetExceeded) a call whose worst case would pass the project's or the
    session's budget. Nothing is sent before this passes."""
    cost, prompt_tokens = worst_case(manager, model, gen)
    if cost <= 0:
        return
    limits = []
    project_limit = settings.project_budget(store, project_id)
    if project_limit is not None:
        name = store.get_project(project_id)["name"]
        limits.append(("project", f"project {name!r}", project_spent(store, project_id), project_limit))
    session_limit = manager.settings.session_budget_usd
    if session_limit is not None:
        limits.append(("session", "this session", manager.session_spent_usd, session_limit))
    for scope, who, spent, limit in limits:
        if spent + cost > limit:
            raise BudgetExceeded(
                f"{model} could cost up to {usd(cost)} (about {prompt_tokens:,} prompt + "
                f"{gen.max_tokens:,} max tokens) and {who} has spent {usd(spent)} of its {usd(limit)} "
                f"budget — lower --max-tokens, use a local model, or raise the budget",
                model=model,
                cost_usd=cost,
                spent_usd=spent,
                limit_usd=limit,
                scope=scope,
                raise_to=_raise_to(limit),
            )


def _raise_to(limit: float) -> str:
    return f"{max(limit * 2, 1):g}"


def check_limit(limit_usd: float | None) -> float | None:
    """A budget as given, or BadInput: NaN would compare false with every cost and so turn
    the budget off without a word; infinity and negative amounts are no budgets either."""
    if limit_usd is not None and not (math.isfinite(limit_usd) and limit_usd >= 0):
        raise BadInput(f"a budget is a USD amount ≥ 0 (or 'off' for none), got {limit_usd}")
    return limit_usd


def set_budget(store: Store, manager: RuntimeManager, scope: str, project_id: int, limit_usd: float | None) -> None:
    """`scope` is "project" (kept in the store) or "session" (this kernel only); None removes it."""
    check_limit(limit_usd)
    if scope == "project":
        settings.set_project_budget(store, project_id, limit_usd)
    elif scope == "session":
        manager.settings.session_budget_usd = limit_usd
    else:
        raise BadInput(f"a budget is for the project or the session, not {scope!r}")


def budget_status(store: Store, manager: RuntimeManager, project: dict) -> dict:
    """Spend and limits for the current project and session (what `%lfw budget` shows)."""
    project_limit = settings.project_budget(store, project["id"])
    session_limit = manager.settings.session_budget_usd
    spent_p, spent_s = project_spent(store, project["id"]), manager.session_spent_usd
    return {
        "project": project["name"],
        "project_spent_usd": round(spent_p, 6),
        "project_budget_usd": project_limit,
        "project_left_usd": None if project_limit is None else round(max(project_limit - spent_p, 0), 6),
        "session_spent_usd": round(spent_s, 6),
        "session_budget_usd": session_limit,
        "session_left_usd": None if session_limit is None else round(max(session_limit - spent_s, 0), 6),
    }


def cost_summary(store: Store, by: str, project_id: int | None = None) -> list[dict]:
    """Spend grouped `by` model, project or day; `project_id` limits it to one project
    (ignored for `by="project"`). Biggest spend first (newest first by day)."""
    thinking = "sum(coalesce(json_extract(r.usage_json, '$.thinking_tokens'), 0))"
    totals = (
        f"count(r.id) AS runs, sum(coalesce(r.input_tokens, 0)) AS input_tokens, "
        f"sum(coalesce(r.output_tokens, 0)) AS output_tokens, {thinking} AS thinking_tokens, "
        "round(coalesce(sum(r.cost_usd), 0), 6) AS cost_usd"
    )
    where, params = ("WHERE r.project_id = ?", (project_id,)) if project_id is not None else ("", ())
    if by == "model":
        sql = (
            f"SELECT coalesce(r.answered_by, r.model) AS model, {totals} FROM runs r {where} "
            "GROUP BY 1 ORDER BY cost_usd DESC, model"
        )
    elif by == "day":
        sql = f"SELECT substr(r.started_at, 1, 10) AS day, {totals} FROM runs r {where} GROUP BY 1 ORDER BY day DESC"
    elif by == "project":
        sql = (
            f"SELECT p.name AS project, {totals} FROM projects p LEFT JOIN runs r ON r.project_id = p.id "
            "GROUP BY p.id ORDER BY cost_usd DESC, p.name"
        )
        params = ()
    else:
        raise BadInput(f"--by takes one of {', '.join(COST_GROUPS)}, got {by!r}")
    return store.query(sql, params)
