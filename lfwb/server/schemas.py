"""What crosses HTTP: request bodies (checked strictly: a bad field is a 422 naming it, and a
value of the wrong JSON type is refused, never coerced — `"5"` is not 5, `false` is not 0) and
the rows answers carry. Rows are the store's own columns; only the ones every row has are typed, the
rest pass through as they are (`extra="allow"`), so a column a migration adds needs no edit here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Path, Query
from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field

from ..pipelines.spec import MAX_DEFINITION_BYTES
from ..runtimes.base import MAX_SEED
from ..store import RUN_STATUSES
from ..store.runs import RUN_KINDS
from ..store.steps import STEP_STATUSES

if TYPE_CHECKING:
    from ..runs import RunResult

# The largest integer every JSON client holds exactly (JavaScript's Number; a JSON Schema tool
# reads bounds as doubles): ids and counts stay below it, far below SQLite's 2**63 - 1.
MAX_INT = 2**53 - 1


def _whole(value: Any) -> Any:
    """JSON has one kind of number: 5.0 is the integer 5 (JSON Schema agrees); 5.5, "5" and
    false are still refused by strict validation."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer field of a request body: `Annotated[int, Field(ge=1, le=10), WHOLE]` (the bounds
# before the validator, or the OpenAPI schema loses them).
WHOLE = BeforeValidator(_whole)


RowId = Annotated[int, Path(ge=1, le=MAX_INT, description="the row's id")]
Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page (newest first)")]
Cursor = Annotated[
    int | None, Query(ge=1, le=MAX_INT, description="`next_cursor` of the page before: rows older than it")
]
ProjectRef = Annotated[
    str | None, Query(max_length=200, description="a project's id or name; default: the workbench's current project")
]
# Filters of the values a row can have: any other is a 422, not an empty page.
RunStatus = Annotated[Literal[RUN_STATUSES] | None, Query(description="runs with this status")]  # type: ignore[valid-type]
RunKind = Annotated[Literal[RUN_KINDS] | None, Query(description="runs of this kind")]  # type: ignore[valid-type]
StepStatus = Annotated[Literal[STEP_STATUSES] | None, Query(description="steps with this status")]  # type: ignore[valid-type]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Text = Annotated[str, Field(max_length=2**20)]


class Body(BaseModel):
    # A misspelt field is a 422, not silently ignored; JSON types are taken as sent (strict).
    model_config = ConfigDict(extra="forbid", strict=True)


class Row(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: int


class Page(BaseModel):
    """One page of rows, newest first; pass `next_cursor` as `cursor` for the next (None: the last)."""

    items: list[dict[str, Any]]
    next_cursor: int | None = None


def page_of(rows: list[dict], limit: int) -> Page:
    return Page(items=rows, next_cursor=rows[-1]["id"] if len(rows) == limit else None)


# -- projects, contexts, runs, steps, artifacts-----------------------------------------------


class ProjectIn(Body):
    name: Name
    description: Annotated[str, Field(max_length=10_000)] = ""


class ProjectPatch(Body):
    name: Name | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None


class ContextIn(Body):
    text: Annotated[str, Field(min_length=1, max_length=2**20)]
    name: Name | None = None
    kind: Annotated[str, Field(min_length=1, max_length=40)] = "note"
    project: str | None = Field(None, max_length=200, description="id or name; default: the current project")


class ContextPatch(Body):
    text: Text | None = None
    name: Name | None = None
    kind: Annotated[str, Field(min_length=1, max_length=40)] | None = None


class DiffSection(BaseModel):
    kind: str = Field(description="model, settings, messages, summary, chunks, answer, or run / steps")
    title: str
    lines: list[str] = Field(description="`- ` what run A had, `+ ` what run B has; other lines are notes")


class RunDiffOut(BaseModel):
    """What changed between two runs (lfwb/run_diff.py)."""

    a: int
    b: int
    same_request: bool = Field(description="both sent the same model the same messages and settings")
    sections: list[DiffSection]


# Over HTTP a run or a step is imported once it has ended: only lfwb's recording writes one as it runs.
ENDED_RUN = tuple(s for s in RUN_STATUSES if s != "running")
ENDED_STEP = tuple(s for s in STEP_STATUSES if s not in ("pending", "running"))


class RunIn(Body):
    """A run recorded from outside (a tool that called a model itself), once it has ended."""

    kind: Literal[RUN_KINDS] = "generate"  # type: ignore[valid-type]
    model: Name | None = None
    prompt: Text | None = None
    output: Text | None = None
    status: Literal[ENDED_RUN] = "done"  # type: ignore[valid-type]
    project: str | None = Field(None, max_length=200)


class StepIn(Body):
    """A step, ended, recorded for an existing run that has ended (a tool running its own pipeline)."""

    run_id: Annotated[int, Field(ge=1, le=MAX_INT), WHOLE]
    name: Name
    position: Annotated[int, Field(ge=0, le=1_000_000, description="its place among the run's steps"), WHOLE] = 0
    model: Name | None = None
    prompt: Text | None = None
    output: Text = ""
    status: Literal[ENDED_STEP] = "done"  # type: ignore[valid-type]
    error: Text | None = None
    input_tokens: Annotated[int, Field(ge=0, le=MAX_INT), WHOLE] | None = None
    output_tokens: Annotated[int, Field(ge=0, le=MAX_INT), WHOLE] | None = None
    duration_ms: Annotated[float, Field(ge=0, le=1e12)] | None = None


class ArtifactIn(Body):
    content: Text
    run_id: Annotated[int, Field(ge=1, le=MAX_INT), WHOLE] | None = None
    kind: Annotated[str, Field(min_length=1, max_length=40)] = "code"
    language: Annotated[str, Field(max_length=40)] | None = None
    filename: Annotated[str, Field(max_length=500)] | None = None
    project: str | None = Field(None, max_length=200)


class ArtifactPatch(Body):
    kind: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    language: Annotated[str, Field(max_length=40)] | None = None
    filename: Annotated[str, Field(max_length=500)] | None = None


# -- models and generation -----------------------------------------------------------------


class RegisterIn(Body):
    """lfwb's field names, or the seed's beside them: model_name, runtime_type, model_id, model_type."""

    name: str = Field(min_length=1, max_length=200, validation_alias=AliasChoices("name", "model_name"))
    runtime: str = Field(min_length=1, max_length=200, validation_alias=AliasChoices("runtime", "runtime_type"))
    source: str = Field(
        min_length=1,
        max_length=4096,
        validation_alias=AliasChoices("source", "model_id"),
        description="a file, folder, hub id or remote model id",
    )
    model_type: str | None = Field(
        None, min_length=1, max_length=100, description="a label (causal_lm, ...), kept in options"
    )
    device: str = "auto"
    dtype: str = "auto"
    quantization: str = "none"
    context_length: Annotated[int, Field(ge=1, le=10_000_000), WHOLE] | None = None
    threads: Annotated[int, Field(ge=1, le=1024), WHOLE] | None = None
    chat_template: Annotated[str, Field(max_length=100_000)] | None = None
    options: dict[str, Any] = Field(
        default_factory=dict, description="backend settings: base_url, api_key_env (never a key), ..."
    )


class ModelName(Body):
    name: str = Field(min_length=1, max_length=200, validation_alias=AliasChoices("name", "model_name"))


class Settings(Body):
    """Generation settings; unset ones take the model's defaults."""

    max_tokens: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0, le=1_000_000), WHOLE] | None = None
    seed: Annotated[int, Field(ge=0, le=MAX_SEED), WHOLE] | None = None
    stop: list[Annotated[str, Field(min_length=1)]] | None = None

    def given(self) -> dict:
        return {k: v for k, v in self.model_dump(include=set(Settings.model_fields)).items() if v is not None}


class GenerateIn(Settings):
    prompt: Annotated[str, Field(min_length=1, max_length=2**20)]
    model: str | None = Field(None, min_length=1, max_length=200, validation_alias=AliasChoices("model", "model_name"))
    system: Annotated[str, Field(max_length=2**20)] | None = None
    raw: bool = False
    stream: bool = Field(False, description="answer as Server-Sent Events (start, token..., done)")
    project: str | None = Field(None, max_length=200)


class RunOut(BaseModel):
    """A finished generation."""

    run_id: int
    status: str
    text: str
    model: str
    answered_by: str | None = None
    input_tokens: int | None = None
    output_tokens: int = 0
    ttft_ms: float | None = None
    duration_ms: float | None = None
    cost_usd: float = 0.0
    error: str | None = None


def run_out(result: RunResult) -> dict:
    return RunOut.model_validate(result, from_attributes=True).model_dump()


# -- pipelines -----------------------------------------------------------------------------


class PipelineIn(Body):
    definition: Annotated[
        str, Field(min_length=1, max_length=MAX_DEFINITION_BYTES, description="the YAML a %%lfw pipeline cell holds")
    ]
    name: Name | None = None


class PipelineRunIn(Body):
    input: Annotated[str, Field(max_length=2**20)] = ""
    settings: Settings = Field(default_factory=Settings)
    cache: bool = Field(True, description="false: run every step, none answered by the step cache")


# -- evals -----------------------------------------------------------------------------------

EvalRow = Annotated[str, Field(max_length=2**17)] | dict[str, Any]


class EvalRunIn(Body):
    """Run the saved eval `name`, or the `definition` given here (saved as `name` once the run is checked)."""

    name: Name
    definition: Annotated[str, Field(min_length=1, max_length=MAX_DEFINITION_BYTES)] | None = None
    models: list[Name] | None = Field(None, description="default: the definition's `models:`")
    rows: list[EvalRow] | None = Field(
        None, max_length=10_000, description="strings, or objects with `input` (and `expected`, ...)"
    )
    against: Annotated[int, Field(ge=1, le=MAX_INT), WHOLE] | None = None
    settings: Settings = Field(default_factory=Settings)
    cache: bool = Field(True, description="false: ask every model again, no answer taken from the step cache")


# -- OpenAI's /v1/chat/completions ------------------------------------------------------------
# Strict as lfwb's own bodies (`"stream": "false"` is refused, not read as true), but a field of
# OpenAI's that lfwb cannot honour is read, so that asking for it is a 400 naming it
# (`CompletionIn.unhonoured`), never dropped: a client that asked for tools or logprobs and got
# an answer without them would not know.

# Accepted and not used, because they change nothing in the answer: who asks (user,
# safety_identifier, prompt_cache_key), bookkeeping OpenAI keeps (metadata, store: lfwb records
# every completion as a run anyway), a priority (service_tier), and how tools would be called
# (parallel_tool_calls), which only matters with tools, refused themselves.
IGNORED_FIELDS = (
    "user",
    "safety_identifier",
    "prompt_cache_key",
    "metadata",
    "store",
    "service_tier",
    "parallel_tool_calls",
)


class Message(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)  # name (a label): accepted, not used
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The text of the message; a list of parts (OpenAI's newer form) has its text parts joined."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") in ("text", None))
        return self.content or ""

    def unhonoured(self, where: str) -> list[tuple[str, str]]:
        parts = self.content if isinstance(self.content, list) else []
        found = [
            (f"{where}.content[{i}]", f"{p.get('type')!s} parts: lfwb sends text only")
            for i, p in enumerate(parts)
            if p.get("type") not in ("text", None)
        ]
        return found + [
            (f"{where}.{name}", "tool calls")
            for name in ("tool_calls", "function_call")
            if (self.model_extra or {}).get(name)
        ]


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True)
    include_usage: bool = False


class TextFormat(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    type: Literal["text"]


class JsonObjectFormat(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    type: Literal["json_object"]


class JsonSchemaSpec(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", populate_by_name=True)
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
    description: Annotated[str, Field(max_length=10_000)] | None = None
    # `schema` would shadow BaseModel.schema(): kept under another name, read and written as "schema".
    json_schema: dict[str, Any] | None = Field(None, alias="schema", description="a JSON Schema; none: any JSON object")
    strict: bool | None = Field(None, description="true or not, decoding is constrained to the schema")


class JsonSchemaFormat(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    type: Literal["json_schema"]
    json_schema: JsonSchemaSpec


ResponseFormat = Annotated[TextFormat | JsonObjectFormat | JsonSchemaFormat, Field(discriminator="type")]


class CompletionIn(BaseModel):
    """OpenAI's chat completion request. Honoured: the settings below `messages`, `response_format`
    (text, json_object, json_schema: decoding constrained to it) and lfwb's `top_k`. Refused with a
    400 naming them when they ask for something: the fields after `response_format`, and any
    field OpenAI does not define."""

    model_config = ConfigDict(extra="allow", strict=True)
    model: Annotated[str, Field(min_length=1, max_length=200)]
    messages: Annotated[list[Message], Field(min_length=1)]
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=1_000_000), WHOLE] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    top_k: Annotated[int, Field(ge=0, le=1_000_000), WHOLE] | None = Field(
        None, description="lfwb's, as llama.cpp's and vLLM's servers take it"
    )
    seed: Annotated[int, Field(ge=0, le=MAX_SEED), WHOLE] | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    # Refused when they ask for something (a 400 naming them); their "nothing" values pass.
    n: Annotated[int, Field(ge=1, le=128), WHOLE] | None = Field(None, description="1 only")
    tools: list[dict[str, Any]] | None = Field(None, description="refused: lfwb makes no tool calls")
    tool_choice: str | dict[str, Any] | None = Field(None, description='"none" only')
    functions: list[dict[str, Any]] | None = Field(None, description="refused: lfwb makes no tool calls")
    function_call: str | dict[str, Any] | None = Field(None, description='"none" only')
    logprobs: bool | None = Field(None, description="false only")
    top_logprobs: Annotated[int, Field(ge=0, le=20), WHOLE] | None = Field(None, description="0 only")
    logit_bias: dict[str, float] | None = Field(None, description="refused unless empty")
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = Field(None, description="0 only")
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = Field(None, description="0 only")
    modalities: list[str] | None = Field(None, description='["text"] only')
    audio: dict[str, Any] | None = Field(None, description="refused: lfwb answers in text")
    prediction: dict[str, Any] | None = Field(None, description="refused")
    reasoning_effort: str | None = Field(None, description="refused: no reasoning settings")
    verbosity: str | None = Field(None, description="refused")
    web_search_options: dict[str, Any] | None = Field(None, description="refused: lfwb does not search")
    # See IGNORED_FIELDS.
    user: Annotated[str, Field(max_length=1000)] | None = None
    safety_identifier: Annotated[str, Field(max_length=1000)] | None = None
    prompt_cache_key: Annotated[str, Field(max_length=1000)] | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    parallel_tool_calls: bool | None = None

    def settings(self) -> dict:
        given = {
            "max_tokens": self.max_completion_tokens or self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "seed": self.seed,
            "stop": [self.stop] if isinstance(self.stop, str) else self.stop,
        }
        return {k: v for k, v in given.items() if v is not None}

    def unhonoured(self) -> list[tuple[str, str]]:
        """(field, why) for each field that asks for what lfwb cannot do; empty when it can answer."""
        asks = {
            "n": (self.n not in (None, 1), "one choice per completion"),
            "tools": (bool(self.tools), "no tool calls"),
            "tool_choice": (self.tool_choice not in (None, "none"), "no tool calls"),
            "functions": (bool(self.functions), "no tool calls"),
            "function_call": (self.function_call not in (None, "none"), "no tool calls"),
            "logprobs": (bool(self.logprobs), "no log probabilities"),
            "top_logprobs": (bool(self.top_logprobs), "no log probabilities"),
            "logit_bias": (bool(self.logit_bias), "no logit bias"),
            "frequency_penalty": (bool(self.frequency_penalty), "no frequency penalty"),
            "presence_penalty": (bool(self.presence_penalty), "no presence penalty"),
            "modalities": (self.modalities not in (None, ["text"]), "text only"),
            "audio": (self.audio is not None, "text only"),
            "prediction": (self.prediction is not None, "no predicted outputs"),
            "reasoning_effort": (self.reasoning_effort is not None, "no reasoning settings"),
            "verbosity": (self.verbosity is not None, "no verbosity setting"),
            "web_search_options": (self.web_search_options is not None, "no web search"),
        }
        found = [(name, why) for name, (asked, why) in asks.items() if asked]
        for i, message in enumerate(self.messages):
            found += message.unhonoured(f"messages[{i}]")
        return found + [(name, "not a field lfwb knows") for name in self.model_extra or {}]
