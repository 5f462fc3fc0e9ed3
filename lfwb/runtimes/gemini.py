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

_FINISH = {"STOP": "stop", "MAX_TOKENS": "length"}


class GeminiRuntime(RemoteRuntime):
    """`%lfw register NAME --runtime gemini --source gemini-2.5-flash [--base-url URL] [--api-key-env VAR]`"""

    runtime_name = "gemini"
    provider = "gemini"
    key_label = "Gemini"
    key_env_vars = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
    default_models = ("gemini-2.5-pro",)

    @classmethod
    def validate(cls, config: ModelConfig) -> ModelConfig:
        source = str(config.source or "").strip().removeprefix("models/")
        if not source or " " in source or ("/" in source and not source.startswith("tunedModels/")):
            raise BadInput(
                f"the source is a Gemini model id such as gemini-2.5-pro or gemini-2.5-flash, got {config.source!r}"
            )
        config.source = source
        check_remote_options(config)
        return config

    @property
    def endpoint(self) -> str:
        """Where requests go: --base-url, else $GOOGLE_GEMINI_BASE_URL (the SDK reads it), else Google."""
        return self.config.options.get("base_url") or os.environ.get("GOOGLE_GEMINI_BASE_URL") or "the Gemini API"

    def make_client(self, key: str | None) -> Any:
        try:
            from google import genai
            from google.genai import types
        except ImportError:
            raise BadInput("the gemini runtime needs google-genai — pip install 'lfwb[remote]'") from None
        http = types.HttpOptions(timeout=int(self.timeout_s * 1000))
        if self.config.options.get("base_url"):
            http.base_url = self.config.options["base_url"]
        # vertexai=False: the Gemini API with a key, whatever GOOGLE_GENAI_USE_VERTEXAI says.
        return genai.Client(api_key=key, vertexai=False, http_options=http)

    # -- one request ---------------------------------------------------------------------

    def request(self, gen: GenerationConfig) -> tuple[list[dict], Any]:
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
            temperature=gen.temperature,
            top_p=gen.top_p,
            max_output_tokens=gen.max_tokens,
            stop_sequences=list(gen.stop) or None,
            seed=gen.seed,
            candidate_count=1,
            automatic_continuation=False,  # one request per attempt: our retries, our accounting
        )
        if gen.json_schema is not None:
            # Gemini constrains its answer to the schema; "any object" is JSON mode alone.
            config.response_mime_type = "application/json"
            if gen.json_schema != {"type": "object"}:
                config.response_json_schema = gen.json_schema
        if self.config.options.get("thinking_budget") is not None:
            config.thinking_config = types.ThinkingConfig(thinking_budget=int(self.config.options["thinking_budget"]))
        return contents, config

    def send(self, request: tuple[list[dict], Any], gen: GenerationConfig) -> Iterable[Any]:
        contents, config = request
        models = self._client.models
        if self.config.options.get("stream", True):
            return models.generate_content_stream(model=self.config.source, contents=contents, config=config)
        return iter([models.generate_content(model=self.config.source, contents=contents, config=config)])

    def read(self, response: Any, attempt: Attempt) -> Chunk:
        text = ""
        for candidate in (response.candidates or [])[:1]:
            parts = candidate.content.parts if candidate.content and candidate.content.parts else []
            text = "".join(p.text for p in parts if p.text and not p.thought)  # thoughts are not the answer
            if candidate.finish_reason is not None:
                reason = getattr(candidate.finish_reason, "value", str(candidate.finish_reason))
                attempt.finish = _FINISH.get(reason, reason.lower())
        feedback = getattr(response, "prompt_feedback", None)
        if feedback is not None and feedback.block_reason is not None:
            attempt.seen["block_reason"] = getattr(feedback.block_reason, "value", str(feedback.block_reason))
        produced = 0
        if response.usage_metadata is not None:
            # Within one response stream the usage is a running total, not a delta.
            before = (attempt.usage or {}).get("output_tokens") or 0
            attempt.usage = _usage(response.usage_metadata.model_dump(exclude_none=True))
            produced = max(0, attempt.usage["output_tokens"] - before)
        if text:
            produced = produced or max(1, round(len(text) / 4))  # no usage yet: ~4 characters a token
        return Chunk(text=text, output_tokens=produced if text else 0)

    def finished(self, attempt: Attempt) -> bool:
        # A blocked prompt ends with a block reason and no candidate; check_answered says why.
        return super().finished(attempt) or "block_reason" in attempt.seen

    def check_answered(self, attempt: Attempt, gen: GenerationConfig) -> None:
        name = self.config.name
        if attempt.pieces or attempt.finish == "cancelled":
            return
        if attempt.seen.get("block_reason"):
            raise GenerationError(
                f"{name} refused the prompt (blocked: {attempt.seen['block_reason']}) — rephrase it", model=name
            )
        thinking = (attempt.usage or {}).get("thinking_tokens") or 0
        if attempt.finish == "length" and thinking:
            raise GenerationError(
                f"{name} spent all {gen.max_tokens} max tokens thinking ({thinking}) and wrote no answer — "
                "raise max tokens (thinking counts against it)",
                model=name,
                limit=gen.max_tokens,
            )
        super().check_answered(attempt, gen)

    def map_error(self, e: Exception) -> LfwbError:
        """An SDK or transport error as one line a user can act on, in the category that says
        whether to retry."""
        from google.genai import errors

        where, name = self.endpoint, self.config.name
        if isinstance(e, errors.APIError):
            code, status = e.code, e.status or ""
            text = f"{code} {status}: {server_message(e.message)}".replace(" :", ":")
            reason = json.dumps(e.details) if e.details is not None else ""
            if code == 429:
                delay = retry_delay_from_details(e.details)
                if delay is None:
                    delay = retry_after_header(getattr(e.response, "headers", None))
                return Retryable(f"rate limited or out of quota ({text})", model=name, retry_after_s=delay)
            if code in (408, 500, 502, 503, 504) or (code or 0) >= 500:
                return Retryable(f"server error ({text})", model=name)
            if code in (401, 403) or "API_KEY_INVALID" in reason:
                return MissingCredentials(
                    f"the key was refused ({text}) — check the key", model=name, provider=self.provider
                )
            if code == 404:
                return GenerationError(
                    f"no model {self.config.source!r} at {where} ({text}) — check the source", model=name
                )
            return GenerationError(f"the request was refused ({text})", model=name)
        kind = transport_failure(e)
        if kind == "timeout":
            return Retryable(f"no answer from {where} within {self.timeout_s:g}s (timed out)", model=name)
        if kind == "connect":
            return GenerationError(
                f"cannot reach {where} ({server_message(e) or 'connection failed'}) — check the network or base_url",
                model=name,
            )
        if kind == "dropped":
            return Retryable(f"the connection to {where} dropped ({server_message(e)})", model=name)
        if isinstance(e, (ValueError, TypeError)):  # JSON or schema errors from the SDK
            return GenerationError(
                f"{where} sent a response that is not a Gemini answer ({server_message(e)}) — check base_url",
                model=name,
            )
        return GenerationError(f"{type(e).__name__}: {server_message(e)}", model=name)


def _usage(u: dict) -> dict:
    """Gemini's usage_metadata in lfwb's terms; thinking is billed as output."""
    usage = {
        "input_tokens": u.get("prompt_token_count"),
        "output_tokens": u.get("candidates_token_count") or 0,
        "thinking_tokens": u.get("thoughts_token_count") or 0,
        "total_tokens": u.get("total_token_count"),
    }
    if u.get("cached_content_token_count"):
        usage["cached_tokens"] = u["cached_content_token_count"]
    return usage
