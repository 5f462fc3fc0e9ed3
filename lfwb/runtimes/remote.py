"""What the remote backends share: the client's life cycle, option checks, one-line errors, and retries.

Retries use exponential backoff with jitter and honour the server's own delay (RetryInfo,
Retry-After). Only a call that has not streamed any text yet is retried (a half-written answer is never
silently restarted). What is worth retrying — 429, 5xx, timeouts — is decided by each
backend's `classify`, which turns an SDK exception into a `RemoteFailure`.

    attempts = Attempts(RetryPolicy(max_attempts=3), cancel, "gemini-2.5-pro")
    while True:
        try:
            ...  # open the stream, yield chunks
            break
        except Exception as e:
            if wrote_text or not attempts.wait_before_retry(classify(e)):
                raise ...
"""

from __future__ import annotations

import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import GenerationError, LfwbError, UsageError
from . import keys
from .base import ModelConfig, Progress, Runtime

log = logging.getLogger("lfwb.remote")

DEFAULT_TIMEOUT_S = 120.0
_MAX_SERVER_MESSAGE = 200
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")  # google.protobuf.Duration in JSON: "2s", "0.5s"


@dataclass
class RetryPolicy:
    """How hard to try. Per model through `options` (max_attempts, retry_base_s, retry_max_s)."""

    max_attempts: int = 4  # the first try included
    base_delay_s: float = 1.0  # the wait before the 2nd attempt; doubles after each one
    max_delay_s: float = 60.0  # a server asking for a longer wait ends the attempts now

    def with_options(self, options: dict) -> RetryPolicy:
        mapping = {"max_attempts": "max_attempts", "retry_base_s": "base_delay_s", "retry_max_s": "max_delay_s"}
        changes = {attr: type(getattr(self, attr))(options[key]) for key, attr in mapping.items() if key in options}
        policy = replace(self, **changes)
        if policy.max_attempts < 1 or policy.base_delay_s < 0 or policy.max_delay_s < 0:
            raise ValueError("max_attempts must be ≥ 1 and delays ≥ 0")
        return policy


# The policy a model gets when its options say nothing (`%config Lfwb.max_attempts` sets it).
DEFAULT_POLICY = RetryPolicy()


@dataclass
class RemoteFailure:
    """One failed attempt, as the user should hear about it (one line, no secrets)."""

    message: str
    retryable: bool
    retry_after_s: float | None = None  # what the server asked for (RetryInfo, Retry-After)
    error: type[LfwbError] = GenerationError
    details: dict[str, Any] = field(default_factory=dict)


def retry_delay_from_details(details: Any) -> float | None:
    """The `retryDelay` of a `google.rpc.RetryInfo` anywhere in an error body, in seconds."""
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


class Attempts:
    """Counts the attempts of one call and sleeps between them."""

    def __init__(self, policy: RetryPolicy, cancel: threading.Event, label: str):
        self.policy = policy
        self.cancel = cancel
        self.label = label
        self.attempt = 1
        self.started = time.monotonic()
        self.waited_s = 0.0

    def delay(self, failure: RemoteFailure) -> float:
        backoff = min(self.policy.max_delay_s, self.policy.base_delay_s * 2 ** (self.attempt - 1))
        backoff = random.uniform(backoff / 2, backoff)  # jitter: clients that failed together spread out
        return max(backoff, failure.retry_after_s or 0.0)

    def wait_before_retry(self, failure: RemoteFailure) -> bool:
        """Sleep before the next attempt and return True; raise when `failure` ends the call.

        Returns False if the generation was cancelled while waiting.
        """
        # `from None`: the SDK's own error (which may quote the request) stays out of tracebacks.
        if not failure.retryable:
            raise failure.error(f"{self.label}: {failure.message}") from None
        if self.attempt >= self.policy.max_attempts:
            tries = "1 attempt" if self.attempt == 1 else f"{self.attempt} attempts"
            raise failure.error(
                f"{self.label}: {failure.message} — gave up after {tries} in "
                f"{time.monotonic() - self.started:.1f}s; try again later, or use a fallback chain "
                "(%lfw alias NAME = MODEL, OTHER)"
            ) from None
        if failure.retry_after_s is not None and failure.retry_after_s > self.policy.max_delay_s:
            raise failure.error(
                f"{self.label}: {failure.message} — the server asks to wait "
                f"{failure.retry_after_s:g}s, longer than the {self.policy.max_delay_s:g}s lfwb waits; "
                "try again later, or use a fallback chain"
            ) from None
        delay = self.delay(failure)
        log.info("%s: %s — attempt %d of %d in %.1fs", self.label, failure.message,
                 self.attempt + 1, self.policy.max_attempts, delay)
        self.attempt += 1
        self.waited_s += delay
        return not self.cancel.wait(delay)


def check_remote_options(config: ModelConfig, needs_base_url: bool = False) -> None:
    """Checks shared by the remote backends: a URL, a variable name, sane numbers, no secrets."""
    options = config.options
    if "api_key" in options:
        raise UsageError(
            "a key never goes in a model's config (it would be saved in the store) — name its "
            "environment variable with --api-key-env, or use %lfw key MODEL"
        )
    base_url = options.get("base_url")
    if needs_base_url and not base_url:
        raise UsageError(
            f"{config.name}: an OpenAI-compatible model needs --base-url, e.g. http://127.0.0.1:8000/v1"
        )
    if base_url is not None and not str(base_url).startswith(("http://", "https://")):
        raise UsageError(f"--base-url must start with http:// or https://, got {base_url!r}")
    if options.get("api_key_env") is not None:
        keys.check_env_name(options["api_key_env"])
    try:
        if float(options.get("timeout_s", 1)) <= 0:
            raise ValueError("timeout_s must be > 0")
        DEFAULT_POLICY.with_options(options)
    except (TypeError, ValueError) as e:
        raise UsageError(f"{config.name}: bad option ({e})") from None


def server_message(text: Any) -> str:
    """A server's message, cut to one short line and scrubbed of keys."""
    line = " ".join(str(text or "").split())
    if len(line) > _MAX_SERVER_MESSAGE:
        line = line[: _MAX_SERVER_MESSAGE - 1] + "…"
    return keys.redact(line)


class RemoteRuntime(Runtime):
    """A backend whose model runs on a server: "loaded" means an SDK client is open.

    Subclasses give `check_ready` (the key, or MissingCredentials) and `make_client`.
    """

    local = False  # takes no local memory: outside the budget
    placeholder_key: str | None = None  # sent when a server needs no key; not a secret

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self._client: Any = None

    @property
    def timeout_s(self) -> float:
        return float(self.config.options.get("timeout_s", DEFAULT_TIMEOUT_S))

    @property
    def loaded(self) -> bool:
        return self._client is not None

    def check_ready(self) -> str:
        raise NotImplementedError

    def make_client(self, key: str) -> Any:
        raise NotImplementedError

    def load(self, progress: Progress | None = None) -> None:
        key = self.check_ready()
        if key != self.placeholder_key:
            keys.note_in_use(key)  # so a server that echoes it back has it scrubbed from messages
        self._client = self.make_client(key)

    def unload(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a pool that is already gone is not worth an error
                pass
