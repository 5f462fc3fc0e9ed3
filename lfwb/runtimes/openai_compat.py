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
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from ..errors import LfwbError, MissingCredentials, UsageError
from . import keys, pricing
from .base import Chunk, GenerationConfig, ModelConfig
from .remote import (
    DEFAULT_POLICY, Attempts, RemoteFailure, RemoteRuntime, check_remote_options, retry_after_header,
    retry_delay_from_details, server_message, transport_failure,
)

CONNECT_TIMEOUT_S = 10.0
NO_KEY = "not-needed"  # local servers ignore the key, but the SDK insists on one


class OpenAICompatRuntime(RemoteRuntime):
    """`%lfw register NAME --runtime openai_compat --source MODEL_ID --base-url URL [--api-key-env VAR]`"""

    runtime_name = "openai_compat"
    placeholder_key = NO_KEY

    @classmethod
    def validate(cls, config: ModelConfig) -> ModelConfig:
        if not str(config.source or "").strip():
            raise UsageError("--source is the model id the server knows, e.g. llama3.1:8b or Qwen/Qwen2.5-7B-Instruct")
        config.source = str(config.source).strip()
        check_remote_options(config, needs_base_url=True)
        config.options["base_url"] = str(config.options["base_url"]).rstrip("/")
        return config

    @property
    def base_url(self) -> str:
        return self.config.options["base_url"]

    def _key(self) -> tuple[str | None, str]:
        env = self.config.options.get("api_key_env")
        key, where = keys.find_key((self.config.name,), (env,) if env else ())
        if key is None and not env:
            return NO_KEY, "none (the server needs none)"
        return key, where

    def check_ready(self) -> str:
        """The key to use; MissingCredentials (one line, naming where to put it) if there is none."""
        key, _ = self._key()
        if key is None:
            raise MissingCredentials(
                f"{self.config.name} needs the API key in ${self.config.options['api_key_env']} — set it, "
                f"or run %lfw key {self.config.name}"
            )
        return key

    def make_client(self, key: str) -> Any:
        try:
            import openai
        except ImportError:
            raise UsageError("the openai_compat runtime needs openai — pip install 'lfwb[remote]'") from None
        timeout = openai.Timeout(self.timeout_s, connect=min(CONNECT_TIMEOUT_S, self.timeout_s))
        # max_retries=0: lfwb retries itself, and only before any text was streamed.
        return openai.OpenAI(base_url=self.base_url, api_key=key, timeout=timeout, max_retries=0)

    def stream(self, gen: GenerationConfig, cancel: threading.Event) -> Iterator[Chunk]:
        name = self.config.name
        settings: dict = dict(
            model=self.config.source, max_tokens=gen.max_tokens, temperature=gen.temperature,
            top_p=gen.top_p, stream=True,
        )
        if gen.stop:
            settings["stop"] = list(gen.stop)
        if gen.seed is not None:
            settings["seed"] = gen.seed
        if self.config.options.get("stream_usage", True):
            settings["stream_options"] = {"include_usage": True}
        attempts = Attempts(DEFAULT_POLICY.with_options(self.config.options), cancel, name)
        while True:
            pieces, usage, finish = 0, None, None
            try:
                if gen.messages is not None:
                    events = self._client.chat.completions.create(messages=gen.messages, **settings)
                else:
                    events = self._client.completions.create(prompt=gen.prompt, **settings)
                try:
                    for event in events:
                        usage = getattr(event, "usage", None) or usage
                        for choice in (event.choices or [])[:1]:
                            finish = choice.finish_reason or finish
                            delta = getattr(choice, "delta", None)
                            text = (delta.content if delta is not None else getattr(choice, "text", None)) or ""
                            if text:
                                pieces += 1
                                yield Chunk(text=text, output_tokens=1)
                        if cancel.is_set():
                            finish = "cancelled"
                            break
                finally:
                    events.close()
                break
            except LfwbError:
                raise
            except Exception as e:
                failure = self.classify(e)
                if pieces:
                    raise failure.error(
                        f"{name}: {failure.message} after {pieces} pieces of the answer — the partial "
                        "answer is kept"
                    ) from None
                if not attempts.wait_before_retry(failure):
                    return
        yield self._final_chunk(usage, finish)

    def _final_chunk(self, usage, finish: str | None) -> Chunk:
        if usage is None:  # the server does not report usage while streaming: runs count pieces
            return Chunk(finish_reason=finish)
        prompt, completion = usage.prompt_tokens, usage.completion_tokens
        cost = pricing.cost_usd(self.config.source, prompt, completion)
        return Chunk(
            input_tokens=prompt, finish_reason=finish,
            usage={"input_tokens": prompt, "output_tokens": completion, "total_tokens": usage.total_tokens},
            cost_usd=None if cost is None else round(cost, 8),
        )

    def classify(self, e: Exception) -> RemoteFailure:
        """An SDK or transport error as one line a user can act on, and whether to retry."""
        import openai

        where = self.base_url
        if isinstance(e, openai.APIStatusError):
            code = e.status_code
            text = f"{code}: {server_message(e.message)}"
            if code == 429:
                delay = retry_delay_from_details(e.body)
                if delay is None:
                    delay = retry_after_header(e.response.headers)
                return RemoteFailure(f"rate limited ({text})", True, delay)
            if code in (408, 409) or code >= 500:
                return RemoteFailure(f"server error ({text})", True)
            if code in (401, 403):
                return RemoteFailure(
                    f"the server refused the key ({text}) — check --api-key-env, or %lfw key {self.config.name}",
                    False, error=MissingCredentials,
                )
            if code == 404:
                return RemoteFailure(f"{where} has no model {self.config.source!r} or no such endpoint ({text}) "
                                     "— check --source and --base-url", False)
            return RemoteFailure(f"the request was refused ({text})", False)
        cause = e.__cause__ if isinstance(e, openai.APIConnectionError) and e.__cause__ else e
        kind = "timeout" if isinstance(e, openai.APITimeoutError) else transport_failure(cause)
        if kind == "timeout":
            return RemoteFailure(f"no answer from {where} within {self.timeout_s:g}s (timed out)", True)
        if kind == "connect" or (isinstance(e, openai.APIConnectionError) and kind is None):
            return RemoteFailure(f"cannot reach {where} ({server_message(cause) or 'connection failed'}) — "
                                 "is the server running? check --base-url", False)
        if kind == "dropped" or isinstance(e, openai.APIError):
            return RemoteFailure(f"the connection to {where} dropped ({server_message(cause) or type(cause).__name__})", True)
        return RemoteFailure(f"{type(e).__name__}: {server_message(e)}", False)

    def info(self) -> dict:
        _, where = self._key()
        price = pricing.price_for(self.config.source, 0)
        return {
            "endpoint": self.base_url,
            "api_key": where,
            "timeout_s": self.timeout_s,
            "max_attempts": DEFAULT_POLICY.with_options(self.config.options).max_attempts,
            "prices_per_1m": f"input ${price.input:g}, output ${price.output:g}" if price else "not priced (costs $0)",
        }
