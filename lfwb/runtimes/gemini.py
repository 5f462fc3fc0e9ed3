"""Gemini models (Gemini 2.5 Pro and the rest) through the official `google-genai` SDK.

    %lfw key gemini                      # or set GEMINI_API_KEY / GOOGLE_API_KEY
    %%lfw generate -m gemini-2.5-pro
    Write a haiku about SQLite.

`gemini-2.5-pro` is registered by itself when a key is present. Other models:
`%lfw register flash --runtime gemini --source gemini-2.5-flash`. Options (in
`ModelConfig.options`): `base_url` (a proxy or a test server), `api_key_env`, `timeout_s`,
`max_attempts`, `retry_base_s`, `retry_max_s`, `thinking_budget`, `stream` (False: one
`generateContent` call instead of `streamGenerateContent`).

The SDK is imported on first use, never by `%load_ext lfwb`.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from typing import Any

from ..errors import GenerationError, LfwbError, MissingCredentials, UsageError
from . import keys, pricing
from .base import Chunk, GenerationConfig, ModelConfig
from .remote import (
    DEFAULT_POLICY, Attempts, RemoteFailure, RemoteRuntime, check_remote_options, retry_after_header,
    retry_delay_from_details, server_message, transport_failure,
)

DEFAULT_MODEL = "gemini-2.5-pro"
_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


def key_for(config: ModelConfig | None = None) -> tuple[str | None, str]:
    """(key, where it came from) for a Gemini model: `%lfw key gemini` / `%lfw key NAME`, then
    the model's `api_key_env`, then GEMINI_API_KEY, GOOGLE_API_KEY."""
    providers = ("gemini",) if config is None else (config.name, "gemini")
    env = keys.GEMINI_ENV
    if config is not None and config.options.get("api_key_env"):
        env = (config.options["api_key_env"],)
    return keys.find_key(providers, env)


def register_default(manager: Any) -> bool:
    """Register `gemini-2.5-pro` on `manager` when a Gemini key is at hand (no SDK import)."""
    if key_for()[0] is None or DEFAULT_MODEL in manager:
        return False
    manager.register(ModelConfig(name=DEFAULT_MODEL, source=DEFAULT_MODEL, runtime="gemini"), persist=False)
    return True


class GeminiRuntime(RemoteRuntime):
    """`%lfw register NAME --runtime gemini --source gemini-2.5-flash [--base-url URL] [--api-key-env VAR]`"""

    runtime_name = "gemini"

    @classmethod
    def validate(cls, config: ModelConfig) -> ModelConfig:
        source = str(config.source or "").strip().removeprefix("models/")
        if not source or " " in source or ("/" in source and not source.startswith("tunedModels/")):
            raise UsageError(
                f"--source is a Gemini model id such as gemini-2.5-pro or gemini-2.5-flash, got {config.source!r}"
            )
        config.source = source
        check_remote_options(config)
        return config

    @property
    def endpoint(self) -> str:
        """Where requests go: --base-url, else $GOOGLE_GEMINI_BASE_URL (the SDK reads it), else Google."""
        return (self.config.options.get("base_url") or os.environ.get("GOOGLE_GEMINI_BASE_URL")
                or "the Gemini API")

    def check_ready(self) -> str:
        """The key to use; MissingCredentials (one line, naming where to put it) if there is none."""
        key, _ = key_for(self.config)
        if key is None:
            names = self.config.options.get("api_key_env") or " or ".join(keys.GEMINI_ENV)
            raise MissingCredentials(
                f"{self.config.name} needs a Gemini API key — set {names}, or run %lfw key gemini"
            )
        return key

    def make_client(self, key: str) -> Any:
        try:
            from google import genai
            from google.genai import types
        except ImportError:
            raise UsageError("the gemini runtime needs google-genai — pip install 'lfwb[remote]'") from None
        http = types.HttpOptions(timeout=int(self.timeout_s * 1000))
        if self.config.options.get("base_url"):
            http.base_url = self.config.options["base_url"]
        # vertexai=False: the Gemini API with a key, whatever GOOGLE_GENAI_USE_VERTEXAI says.
        return genai.Client(api_key=key, vertexai=False, http_options=http)

    # -- generating ----------------------------------------------------------------------

    def _request(self, gen: GenerationConfig) -> tuple[list[dict], Any]:
        from google.genai import types

        system: list[str] = []
        contents: list[dict] = []
        if gen.messages is None:
            contents.append({"role": "user", "parts": [{"text": gen.prompt}]})
        for m in gen.messages or []:
            role, text = m.get("role"), str(m.get("content") or "")
            if role == "system":
                system.append(text)
            else:  # Gemini calls the assistant "model"
                contents.append({"role": "model" if role == "assistant" else "user", "parts": [{"text": text}]})
        config = types.GenerateContentConfig(
            system_instruction="\n\n".join(system) or None,
            temperature=gen.temperature, top_p=gen.top_p, max_output_tokens=gen.max_tokens,
            stop_sequences=list(gen.stop) or None, seed=gen.seed, candidate_count=1,
            automatic_continuation=False,  # one request per attempt: our retries, our accounting
        )
        if self.config.options.get("thinking_budget") is not None:
            config.thinking_config = types.ThinkingConfig(thinking_budget=int(self.config.options["thinking_budget"]))
        return contents, config

    def stream(self, gen: GenerationConfig, cancel: threading.Event) -> Iterator[Chunk]:
        name = self.config.name
        contents, config = self._request(gen)
        policy = DEFAULT_POLICY.with_options(self.config.options)
        attempts = Attempts(policy, cancel, name)
        streaming = self.config.options.get("stream", True)
        while True:
            state = _StreamState()
            try:
                if streaming:
                    responses = self._client.models.generate_content_stream(
                        model=self.config.source, contents=contents, config=config)
                else:
                    responses = iter([self._client.models.generate_content(
                        model=self.config.source, contents=contents, config=config)])
                try:
                    for response in responses:
                        chunk = state.take(response)
                        if chunk.text:
                            yield chunk
                        if cancel.is_set():
                            state.finish = "cancelled"
                            break
                finally:
                    close = getattr(responses, "close", None)
                    if close:
                        close()
                break
            except LfwbError:
                raise
            except Exception as e:
                failure = self.classify(e)
                if state.text_chunks:
                    if state.usage:  # what was billed so far, before the error ends the stream
                        yield self._usage_chunk(state)
                    raise failure.error(
                        f"{name}: {failure.message} after {state.text_chunks} chunks of the answer — "
                        "the partial answer is kept"
                    ) from None
                if not attempts.wait_before_retry(failure):
                    return
        state.check_answered(name, gen)
        yield self._usage_chunk(state)

    def _usage_chunk(self, state: _StreamState) -> Chunk:
        if state.usage is None:  # nothing reported: runs keep their own count
            return Chunk(finish_reason=state.finish)
        u = state.usage
        prompt = u.get("prompt_token_count")
        visible = u.get("candidates_token_count") or 0
        thinking = u.get("thoughts_token_count") or 0
        usage = {
            "input_tokens": prompt, "output_tokens": visible, "thinking_tokens": thinking,
            "total_tokens": u.get("total_token_count"),
        }
        if u.get("cached_content_token_count"):
            usage["cached_tokens"] = u["cached_content_token_count"]
        cost = pricing.cost_usd(self.config.source, prompt, visible + thinking)
        return Chunk(input_tokens=prompt, finish_reason=state.finish, usage=usage,
                     cost_usd=None if cost is None else round(cost, 8))

    def classify(self, e: Exception) -> RemoteFailure:
        """An SDK or transport error as one line a user can act on, and whether to retry."""
        from google.genai import errors

        where = self.endpoint
        if isinstance(e, errors.APIError):
            code, status = e.code, e.status or ""
            text = f"{code} {status}: {server_message(e.message)}".replace(" :", ":")
            reason = json.dumps(e.details) if e.details is not None else ""
            if code == 429:
                delay = retry_delay_from_details(e.details)
                if delay is None:
                    delay = retry_after_header(getattr(e.response, "headers", None))
                return RemoteFailure(f"rate limited or out of quota ({text})", True, delay)
            if code in (408, 500, 502, 503, 504) or (code or 0) >= 500:
                return RemoteFailure(f"server error ({text})", True)
            if code in (401, 403) or "API_KEY_INVALID" in reason:
                return RemoteFailure(
                    f"the key was refused ({text}) — check the key ($GEMINI_API_KEY, or %lfw key gemini)",
                    False, error=MissingCredentials,
                )
            if code == 404:
                return RemoteFailure(f"no model {self.config.source!r} at {where} ({text}) — check --source", False)
            return RemoteFailure(f"the request was refused ({text})", False)
        kind = transport_failure(e)
        if kind == "timeout":
            return RemoteFailure(f"no answer from {where} within {self.timeout_s:g}s (timed out)", True)
        if kind == "connect":
            return RemoteFailure(f"cannot reach {where} ({server_message(e) or 'connection failed'}) — "
                                 "check the network or --base-url", False)
        if kind == "dropped":
            return RemoteFailure(f"the connection to {where} dropped ({server_message(e)})", True)
        if isinstance(e, (ValueError, TypeError)):  # JSON or schema errors from the SDK
            return RemoteFailure(f"{where} sent a response that is not a Gemini answer "
                                 f"({server_message(e)}) — check --base-url", False)
        return RemoteFailure(f"{type(e).__name__}: {server_message(e)}", False)

    def info(self) -> dict:
        _, where = key_for(self.config)
        price = pricing.price_for(self.config.source, 0)
        return {
            "endpoint": self.endpoint,
            "api_key": where,
            "timeout_s": self.timeout_s,
            "max_attempts": DEFAULT_POLICY.with_options(self.config.options).max_attempts,
            "prices_per_1m": (f"input ${price.input:g}, output ${price.output:g} (prompts up to the first tier)"
                              if price else "not in the price table — runs are recorded at $0"),
        }


class _StreamState:
    """What one attempt has seen: text so far, the latest usage, why it ended."""

    def __init__(self) -> None:
        self.text_chunks = 0
        self.usage: dict | None = None
        self.finish: str | None = None
        self.block_reason: str | None = None
        self._candidates = 0

    def take(self, response: Any) -> Chunk:
        text = ""
        for candidate in (response.candidates or [])[:1]:
            parts = candidate.content.parts if candidate.content and candidate.content.parts else []
            text = "".join(p.text for p in parts if p.text and not p.thought)  # thoughts are not the answer
            if candidate.finish_reason is not None:
                reason = getattr(candidate.finish_reason, "value", str(candidate.finish_reason))
                self.finish = _FINISH.get(reason, reason.lower())
        feedback = getattr(response, "prompt_feedback", None)
        if feedback is not None and feedback.block_reason is not None:
            self.block_reason = getattr(feedback.block_reason, "value", str(feedback.block_reason))
        produced = 0
        if response.usage_metadata is not None:
            # Within one response stream the usage is a running total, not a delta.
            self.usage = response.usage_metadata.model_dump(exclude_none=True)
            total = self.usage.get("candidates_token_count") or 0
            produced, self._candidates = max(0, total - self._candidates), max(total, self._candidates)
        if text:
            self.text_chunks += 1
            produced = produced or max(1, round(len(text) / 4))  # no usage yet: ~4 characters a token
        return Chunk(text=text, output_tokens=produced if text else 0)

    def check_answered(self, name: str, gen: GenerationConfig) -> None:
        """An answer with no text says why, rather than looking like an empty success."""
        if self.text_chunks or self.finish == "cancelled":
            return
        if self.block_reason:
            raise GenerationError(f"{name} refused the prompt (blocked: {self.block_reason}) — rephrase it")
        thinking = (self.usage or {}).get("thoughts_token_count") or 0
        if self.finish == "length" and thinking:
            raise GenerationError(
                f"{name} spent all {gen.max_tokens} max tokens thinking ({thinking}) and wrote no answer — "
                "raise --max-tokens (thinking counts against it)"
            )
        if self.finish and self.finish not in ("stop", "length"):
            raise GenerationError(f"{name} stopped without an answer (finish reason: {self.finish})")
