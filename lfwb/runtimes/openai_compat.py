"""Any OpenAI-compatible server — vLLM, Ollama, LM Studio, llama.cpp's server — through the
official `openai` SDK. This is how a notebook outgrows one machine.

    %lfw register fast --runtime openai_compat --source Qwen/Qwen2.5-7B-Instruct \\
        --base-url http://gpu-box:8000/v1 [--api-key-env VLLM_API_KEY]

Chat messages go to `/chat/completions`, a raw prompt to `/completions`, both streamed with
`stream_options={"include_usage": true}` so servers that report usage (vLLM, Ollama, OpenAI)
give exact token counts; for the others the streamed pieces are counted. Options: `base_url`
(required), `api_key_env`, `timeout_s`, `max_attempts`, `retry_base_s`, `retry_max_s`,
`stream_usage` (False for a server that rejects `stream_options`). A model id found in the
price table is costed; a self-hosted one costs 0.

A schema (`GenerationConfig.json_schema`) goes as OpenAI's `response_format` `json_schema`
(`json_object` for any object). A server that refuses that form but takes the schema inside
`json_object` (llama-cpp-python's own server, Anyscale) gets it that way from then on;
`response_format=json_object` in the options asks for that form from the start.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ..errors import GenerationError, LfwbError, MissingCredentials, Retryable, BadInput
from .base import Chunk, GenerationConfig, ModelConfig
from .remote import (
    Attempt,
    RemoteRuntime,
    check_remote_options,
    retry_after_header,
    retry_delay_from_details,
    server_message,
    transport_failure,
)

CONNECT_TIMEOUT_S = 10.0
NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


class OpenAICompatRuntime(RemoteRuntime):
    """`%lfw register NAME --runtime openai_compat --source MODEL_ID --base-url URL [--api-key-env VAR]`"""

    runtime_name = "openai_compat"
    needs_key = False  # self-hosted servers take none; a model that needs one names --api-key-env

    @classmethod
    def validate(cls, config: ModelConfig) -> ModelConfig:
        if not str(config.source or "").strip():
            raise BadInput("the source is the model id the server knows, e.g. llama3.1:8b or Qwen/Qwen2.5-7B-Instruct")
        config.source = str(config.source).strip()
        check_remote_options(config, needs_base_url=True)
        config.options["base_url"] = str(config.options["base_url"]).rstrip("/")
        return config

    @property
    def endpoint(self) -> str:
        return self.config.options["base_url"]

    def make_client(self, key: str | None) -> Any:
        try:
            import openai
        except ImportError:
            raise BadInput("the openai_compat runtime needs openai — pip install 'lfwb[remote]'") from None
        timeout = openai.Timeout(self.timeout_s, connect=min(CONNECT_TIMEOUT_S, self.timeout_s))
        # max_retries=0: lfwb retries itself, and only before any text was streamed.
        return openai.OpenAI(base_url=self.endpoint, api_key=key or NO_KEY, timeout=timeout, max_retries=0)

    # -- one request ---------------------------------------------------------------------

    def request(self, gen: GenerationConfig) -> dict:
        settings: dict = dict(
            model=self.config.source,
            max_tokens=gen.max_tokens,
            temperature=gen.temperature,
            top_p=gen.top_p,
            stream=True,
        )
        if gen.stop:
            settings["stop"] = list(gen.stop)
        if gen.seed is not None:
            settings["seed"] = gen.seed
        if self.config.options.get("stream_usage", True):
            settings["stream_options"] = {"include_usage": True}
        if gen.json_schema is not None:
            settings["response_format"] = self._response_format(gen.json_schema)
        return settings

    def _response_format(self, schema: dict) -> dict:
        if schema == {"type": "object"}:
            return {"type": "json_object"}
        if self.config.options.get("response_format") == "json_object":
            return {"type": "json_object", "schema": schema}
        name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "answer"))[:64]
        # Not strict: OpenAI's strict mode wants every property required, which optional
        # fields are not; the answer is checked against the schema when it is back anyway.
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}

    def send(self, settings: dict, gen: GenerationConfig) -> Iterable[Any]:
        import openai

        try:
            return self._create(settings, gen)
        except openai.APIStatusError as e:
            # A refusal that names response_format (llama-cpp-python's server answers it 500).
            form = settings.get("response_format") or {}
            if form.get("type") != "json_schema" or "response_format" not in f"{e.message} {e.body}":
                raise
            # The server knows json_object only: the same schema, in the form it takes.
            self.config.options["response_format"] = "json_object"
            settings["response_format"] = {"type": "json_object", "schema": form["json_schema"]["schema"]}
            return self._create(settings, gen)

    def _create(self, settings: dict, gen: GenerationConfig) -> Iterable[Any]:
        if gen.messages is not None:
            return self._client.chat.completions.create(messages=gen.messages, **settings)
        if "response_format" in settings:  # not in OpenAI's /completions: servers that read it there
            settings = {**settings, "extra_body": {"response_format": settings.pop("response_format")}}
        return self._client.completions.create(prompt=gen.prompt, **settings)

    def read(self, event: Any, attempt: Attempt) -> Chunk:
        usage = getattr(event, "usage", None)
        if usage is not None:
            attempt.usage = {
                "input_tokens": usage.prompt_tokens,
                "output_tokens": usage.completion_tokens,
                "total_tokens": usage.total_tokens,
            }
        for choice in (event.choices or [])[:1]:
            attempt.finish = choice.finish_reason or attempt.finish
            delta = getattr(choice, "delta", None)
            text = (delta.content if delta is not None else getattr(choice, "text", None)) or ""
            if text:
                return Chunk(text=text, output_tokens=1)  # a server that reports usage corrects the count
        return Chunk()

    def map_error(self, e: Exception) -> LfwbError:
        """An SDK or transport error as one line a user can act on, in the category that says
        whether to retry."""
        import openai

        where, name = self.endpoint, self.config.name
        if isinstance(e, openai.APIStatusError):
            code = e.status_code
            text = f"{code}: {server_message(e.message)}"
            if code == 429:
                delay = retry_delay_from_details(e.body)
                if delay is None:
                    delay = retry_after_header(e.response.headers)
                return Retryable(f"rate limited ({text})", model=name, retry_after_s=delay)
            if code in (408, 409) or code >= 500:
                return Retryable(f"server error ({text})", model=name)
            if code in (401, 403):
                return MissingCredentials(
                    f"the server refused the key ({text}) — check api_key_env", model=name, provider=name
                )
            if code == 404:
                return GenerationError(
                    f"{where} has no model {self.config.source!r} or no such endpoint ({text}) "
                    "— check the source and base_url",
                    model=name,
                )
            return GenerationError(f"the request was refused ({text})", model=name)
        cause = e.__cause__ if isinstance(e, openai.APIConnectionError) and e.__cause__ else e
        kind = "timeout" if isinstance(e, openai.APITimeoutError) else transport_failure(cause)
        if kind == "timeout":
            return Retryable(f"no answer from {where} within {self.timeout_s:g}s (timed out)", model=name)
        if kind == "connect" or (isinstance(e, openai.APIConnectionError) and kind is None):
            return GenerationError(
                f"cannot reach {where} ({server_message(cause) or 'connection failed'}) — "
                "is the server running? check base_url",
                model=name,
            )
        if kind == "dropped" or isinstance(e, openai.APIError):
            return Retryable(
                f"the connection to {where} dropped ({server_message(cause) or type(cause).__name__})", model=name
            )
        return GenerationError(f"{type(e).__name__}: {server_message(e)}", model=name)
