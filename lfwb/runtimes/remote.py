"""What the remote backends share: the client's life cycle, the key, option checks, and the
retry-and-stream loop. A provider supplies only what differs between APIs:

    class MistralRuntime(RemoteRuntime):
        runtime_name = "mistral"
        provider, key_label, key_env_vars = "mistral", "Mistral", ("MISTRAL_API_KEY",)

        def make_client(self, key): ...                  # the SDK's client
        def send(self, request, gen): ...                 # one attempt: an iterator of events
        def read(self, event, attempt): ...               # an event as a Chunk; usage/finish into `attempt`
        def map_error(self, e): ...                       # an SDK error as an LfwbError category

Retries use exponential backoff with jitter and honour the server's own delay (RetryInfo,
Retry-After). Only a `Retryable` failure is retried, and only while no text has streamed (a
half-written answer is never silently restarted). A stream that ends without a finish reason
was cut off: a failure like a dropped connection, never an answer that looks done.
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ..errors import GenerationError, LfwbError, RefusedBeforeSending, Retryable, BadInput
from . import keys
from .base import Chunk, GenerationConfig, ModelConfig, Progress, Runtime
from .settings import RetryPolicy, RuntimeSettings

log = logging.getLogger("lfwb.remote")

DEFAULT_TIMEOUT_S = 120.0
_MAX_SERVER_MESSAGE = 200
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")  # google.protobuf.Duration in JSON: "2s", "0.5s"


def retry_delay_from_details(details: Any) -> float | None:
    """The `retryDelay` of a `google.rpc.RetryInfo` anywhere in an error body, in seconds."""
    values: Iterable[Any]
    if isinstance(details, dict):
        if str(details.get("@type", "")).endswith("google.rpc.RetryInfo"):
            match = _DURATION.match(str(details.get("retryDelay", "")))
            if match:
                return float(match.group(1))
        values = details.values()
    elif isinstance(details, list):
        values = details
    else:
        return None
    for value in values:
        found = retry_delay_from_details(value)
        if found is not None:
            return found
    return None


def retry_after_header(headers: Any) -> float | None:
    """`Retry-After: 3` (seconds) from a response's headers; dates are not worth the parsing."""
    try:
        value = headers.get("retry-after") if headers is not None else None
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def transport_failure(e: BaseException) -> str | None:
    """'timeout', 'connect' or 'dropped' for an httpx / httpx2 transport error, else None."""
    for cls in type(e).__mro__:
        if cls.__module__.split(".")[0] not in ("httpx", "httpx2"):
            continue
        if cls.__name__ == "TimeoutException":
            return "timeout"
        if cls.__name__ == "ConnectError":
            return "connect"
        if cls.__name__ in ("TransportError", "StreamError"):
            return "dropped"
    if isinstance(e, TimeoutError):
        return "timeout"
    return None


def server_message(text: Any) -> str:
    """A server's message, cut to one short line and scrubbed of keys."""
    line = " ".join(str(text or "").split())
    if len(line) > _MAX_SERVER_MESSAGE:
        line = line[: _MAX_SERVER_MESSAGE - 1] + "…"
    return keys.redact(line)


class Retries:
    """Counts the attempts of one call and sleeps between them."""

    # The time it reads and how it waits (event, seconds → True if cancelled meanwhile): tests
    # put a fake clock here, so they see the waits it chose without waiting them out.
    clock = staticmethod(time.monotonic)
    wait = staticmethod(threading.Event.wait)

    def __init__(self, policy: RetryPolicy, cancel: threading.Event, label: str):
        self.policy = policy
        self.cancel = cancel
        self.label = label
        self.attempt = 1
        self.started = self.clock()

    def delay(self, failure: Retryable) -> float:
        backoff = min(self.policy.max_delay_s, self.policy.base_delay_s * 2 ** (self.attempt - 1))
        backoff = random.uniform(backoff / 2, backoff)  # jitter: clients that failed together spread out
        return max(backoff, failure.retry_after_s or 0.0)

    def wait_before_retry(self, failure: LfwbError) -> bool:
        """Sleep before the next attempt and return True; raise when `failure` ends the call.

        Returns False if the generation was cancelled while waiting.
        """
        # `from None`: the SDK's own error (which may quote the request) stays out of tracebacks.
        if not isinstance(failure, Retryable):
            raise failure.reworded(f"{self.label}: {failure}") from None
        if self.attempt >= self.policy.max_attempts:
            tries = "1 attempt" if self.attempt == 1 else f"{self.attempt} attempts"
            raise GenerationError(
                f"{self.label}: {failure} — gave up after {tries} in "
                f"{self.clock() - self.started:.1f}s; try again later, or use a fallback chain",
                model=self.label,
                attempts=self.attempt,
            ) from None
        if failure.retry_after_s is not None and failure.retry_after_s > self.policy.max_delay_s:
            raise GenerationError(
                f"{self.label}: {failure} — the server asks to wait {failure.retry_after_s:g}s, longer "
                f"than the {self.policy.max_delay_s:g}s lfwb waits; try again later, or use a fallback chain",
                model=self.label,
                attempts=self.attempt,
            ) from None
        delay = self.delay(failure)
        log.info(
            "%s: %s — attempt %d of %d in %.1fs", self.label, failure, self.attempt + 1, self.policy.max_attempts, delay
        )
        self.attempt += 1
        return not self.wait(self.cancel, delay)


def check_remote_options(config: ModelConfig, needs_base_url: bool = False) -> None:
    """Checks shared by the remote backends: a URL, a variable name, sane numbers, no secrets."""
    options = config.options
    if "api_key" in options:
        raise BadInput(
            "a key never goes in a model's config (it would be saved in the store) — name its "
            "environment variable with api_key_env, or give it for this session"
        )
    base_url = options.get("base_url")
    if needs_base_url and not base_url:
        raise BadInput(f"{config.name}: an OpenAI-compatible model needs a base_url, e.g. http://127.0.0.1:8000/v1")
    if base_url is not None and not str(base_url).startswith(("http://", "https://")):
        raise BadInput(f"base_url must start with http:// or https://, got {base_url!r}")
    if options.get("api_key_env") is not None:
        keys.check_env_name(options["api_key_env"])
    try:
        if float(options.get("timeout_s", 1)) <= 0:
            raise ValueError("timeout_s must be > 0")
        RetryPolicy().with_options(options)
    except (TypeError, ValueError) as e:
        raise BadInput(f"{config.name}: bad option ({e})") from None


@dataclass
class Attempt:
    """What one attempt has seen. `read` fills `usage` (input_tokens, output_tokens,
    thinking_tokens, total_tokens: totals so far, not deltas) and `finish`."""

    pieces: int = 0  # pieces of text streamed
    usage: dict | None = None
    finish: str | None = None
    seen: dict = field(default_factory=dict)  # the provider's own notes (e.g. a block reason)


class RemoteRuntime(Runtime):
    """A backend whose model runs on a server: "loaded" means an SDK client is open.

    A provider declares its key and gives `make_client`, `request`, `send`, `read` and
    `map_error` (see the module docstring); this class owns keys, retries and streaming.
    `finished` may widen what counts as the server ending an answer (Gemini: a block reason).
    """

    local = False  # takes no local memory: outside the budget
    key_label: ClassVar[str] = ""  # "Gemini" in "needs a Gemini API key"
    key_env_vars: ClassVar[tuple[str, ...]] = ()  # where the key is looked up, in order
    needs_key: ClassVar[bool] = True  # False: a key only when the model names --api-key-env

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        keys.declare(cls)

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self._client: Any = None

    # -- what a provider gives ---------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """Where requests go, as messages and `%lfw info` name it."""
        return str(self.config.options.get("base_url") or self.runtime_name)

    def make_client(self, key: str | None) -> Any:
        raise NotImplementedError

    def request(self, gen: GenerationConfig) -> Any:
        """What `send` needs, built once for every attempt."""
        return gen

    def send(self, request: Any, gen: GenerationConfig) -> Iterable[Any]:
        """Open one attempt: the SDK's response events (closed afterwards if they can be)."""
        raise NotImplementedError

    def read(self, event: Any, attempt: Attempt) -> Chunk:
        """One event as a Chunk of text and tokens; usage and finish reason go into `attempt`."""
        raise NotImplementedError

    def map_error(self, e: Exception) -> LfwbError:
        """An SDK or transport error as one line: `Retryable`, `MissingCredentials`, or another
        `GenerationError`."""
        raise NotImplementedError

    def finished(self, attempt: Attempt) -> bool:
        """Did the server end the answer itself? A stream that stops without a finish reason
        was cut off (a server killed, a proxy that closed the connection), however cleanly."""
        return attempt.finish is not None

    def check_answered(self, attempt: Attempt, gen: GenerationConfig) -> None:
        """An answer with no text says why, rather than looking like an empty success."""
        if attempt.pieces == 0 and attempt.finish not in (None, "stop", "length", "cancelled"):
            raise GenerationError(
                f"{self.config.name} stopped without an answer (finish reason: {attempt.finish})",
                model=self.config.name,
            )

    # -- keys and the client -----------------------------------------------------------

    @classmethod
    def default_configs(cls, settings: RuntimeSettings) -> list[ModelConfig]:
        if keys.key_for(cls, settings.session_keys)[0] is None:
            return []
        return [ModelConfig(name=m, source=m, runtime=cls.runtime_name) for m in cls.default_models]

    @property
    def timeout_s(self) -> float:
        return float(self.config.options.get("timeout_s", DEFAULT_TIMEOUT_S))

    @property
    def loaded(self) -> bool:
        return self._client is not None

    def check_ready(self) -> None:
        super().check_ready()
        keys.require(type(self), self.config, self.settings.session_keys)

    def load(self, progress: Progress | None = None) -> None:
        key = keys.require(type(self), self.config, self.settings.session_keys)
        if key is not None:
            keys.note_in_use(key)  # so a server that echoes it back has it scrubbed from messages
        self._client = self.make_client(key)

    def unload(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a pool that is already gone is not worth an error
                pass

    # -- the loop ----------------------------------------------------------------------

    def stream(self, gen: GenerationConfig, cancel: threading.Event) -> Iterator[Chunk]:
        name = self.config.name
        if gen.prefill:  # these APIs cannot continue an answer; a fallback chain moves on to a local link
            raise RefusedBeforeSending(f"prefill needs a local model — {name} answers through a remote API")
        request = self.request(gen)
        retries = Retries(self.settings.retry.with_options(self.config.options), cancel, name)
        while True:
            attempt = Attempt()
            try:
                events = self.send(request, gen)
                try:
                    for event in events:
                        chunk = self.read(event, attempt)
                        if chunk.text:
                            attempt.pieces += 1
                            yield chunk
                        if cancel.is_set():
                            attempt.finish = "cancelled"
                            break
                finally:
                    close = getattr(events, "close", None)  # SDK streams hold a connection
                    if close is not None:
                        close()
                failure: LfwbError | None = (
                    None
                    if cancel.is_set() or self.finished(attempt)
                    else Retryable(f"{self.endpoint} ended the stream without a finish reason", model=name)
                )
            except LfwbError:
                raise
            except Exception as e:
                failure = self.map_error(e)
            if failure is None:
                break
            if attempt.pieces:
                # Never retried: a second answer would follow the half shown, or replace it.
                if attempt.usage:  # what was billed so far, before the error ends the stream
                    yield self._last_chunk(attempt)
                raise GenerationError(
                    f"{name}: {failure} — the answer was cut off after {attempt.pieces} "
                    f"piece{'s' * (attempt.pieces != 1)}; the partial answer is kept, run it again for a whole one",
                    model=name,
                ) from None
            if not retries.wait_before_retry(failure):
                return
        self.check_answered(attempt, gen)
        yield self._last_chunk(attempt)

    def _last_chunk(self, attempt: Attempt) -> Chunk:
        if attempt.usage is None:  # nothing reported: runs keep their own count
            return Chunk(finish_reason=attempt.finish)
        usage = {k: v for k, v in attempt.usage.items() if v is not None}
        prompt = usage.get("input_tokens")
        billed = (usage.get("output_tokens") or 0) + (usage.get("thinking_tokens") or 0)
        cost = self.settings.prices.cost_usd(self.config.source, prompt, billed)
        return Chunk(
            input_tokens=prompt,
            finish_reason=attempt.finish,
            usage=usage,
            cost_usd=None if cost is None else round(cost, 8),
        )

    def info(self) -> dict:
        price = self.settings.prices.price_for(self.config.source, 0)
        return {
            "endpoint": self.endpoint,
            "api_key": keys.key_for(type(self), self.settings.session_keys, self.config)[1],
            "timeout_s": self.timeout_s,
            "max_attempts": self.settings.retry.with_options(self.config.options).max_attempts,
            "prices_per_1m": (
                f"input ${price.input:g}, output ${price.output:g} (prompts up to the first tier)"
                if price
                else "not in the price table — runs are recorded at $0"
            ),
        }
