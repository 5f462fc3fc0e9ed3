"""API keys: found in the environment or given for the session, never written anywhere.

A key given with `%lfw key gemini` lives in this module's memory until the kernel stops. A
model's config names the environment variable that holds its key (`api_key_env`), never the
key. `redact` scrubs every key we know of from a message before a user or a log sees it.
"""

from __future__ import annotations

import os
import re

from ..errors import UsageError

GEMINI_ENV = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Shapes of real keys, so a key pasted where a variable NAME belongs is refused, not saved.
_KEY_SHAPES = re.compile(r"^(AIza|sk-|gsk_|xai-|hf_)")

_session: dict[str, str] = {}  # provider or model name -> key, for this process only
_in_use: set[str] = set()  # keys handed to an SDK client in this process (for `redact`)


def set_session_key(provider: str, key: str) -> None:
    key = (key or "").strip()
    if not key:
        raise UsageError("no key given — paste it at the prompt, or set it in the environment")
    _session[provider] = key


def clear_session_key(provider: str) -> bool:
    return _session.pop(provider, None) is not None


def has_session_key(provider: str) -> bool:
    return provider in _session


def find_key(providers: tuple[str, ...], env_names: tuple[str, ...]) -> tuple[str | None, str]:
    """(key, where it came from) — a session key first, then the environment variables in order.
    `where` names the source ("session" or the variable), never the key."""
    for provider in providers:
        if _session.get(provider):
            return _session[provider], "given for this session"
    for name in env_names:
        if os.environ.get(name):
            return os.environ[name], f"from ${name}"
    return None, "missing"


def check_env_name(value: str) -> str:
    """An `api_key_env` value must name a variable; a pasted key is refused without echoing it."""
    if not isinstance(value, str) or not _ENV_NAME.match(value) or _KEY_SHAPES.match(value):
        raise UsageError(
            "--api-key-env takes the NAME of an environment variable that holds the key "
            "(e.g. OPENAI_API_KEY), not the key itself; for a key typed in this session use "
            "%lfw key MODEL"
        )
    return value


def note_in_use(key: str) -> None:
    _in_use.add(key)


def known_keys() -> list[str]:
    """Every key this process could send: session keys, keys in use, the usual variables."""
    keys = [*_session.values(), *_in_use]
    keys += [os.environ[n] for n in (*GEMINI_ENV, "OPENAI_API_KEY") if os.environ.get(n)]
    return [k for k in keys if len(k) >= 8]


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` with every known key (and `extra` secrets) replaced by `***`."""
    for key in sorted({*known_keys(), *(k for k in extra if k and len(k) >= 8)}, key=len, reverse=True):
        text = text.replace(key, "***")
    return text


def use_key(manager, provider: str, key: str | None) -> list[str]:
    """Give (or with None, forget) the session key of `provider` — "gemini" or a registered
    model's name. Models that use it are unloaded, so they reconnect with it on next use;
    a Gemini key also registers gemini-2.5-pro. Returns the models the key serves."""
    check_provider(manager, provider)
    if key is None:
        clear_session_key(provider)
    else:
        set_session_key(provider, key)
    if provider == "gemini":
        from .gemini import register_default

        register_default(manager)
        served = [n for n in manager.names() if manager.config(n).runtime == "gemini"]
    else:
        served = [provider]
    for name in served:
        manager.unload(name)
    return served


def check_provider(manager, provider: str) -> None:
    if provider != "gemini" and provider not in manager:
        raise UsageError(f"%lfw key takes 'gemini' or a registered model's name, got {provider!r}")
