"""API keys: found in the environment or given for the session, never written anywhere.

A backend declares the key it needs (`RemoteRuntime.provider`, `key_env_vars`, `needs_key`);
this module is the one place that looks keys up and says when one is missing. A key given
for the session (`%lfw key PROVIDER` or `%lfw key MODEL`) is held by the manager, in its
`RuntimeSettings.session_keys`, until the kernel stops. A model's config names the environment
variable that holds its key (`api_key_env`), never the key. `redact` scrubs every key we know
of from a message before a user or a log sees it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..errors import MissingCredentials, BadInput

if TYPE_CHECKING:
    from .base import ModelConfig
    from .manager import RuntimeManager
    from .remote import RemoteRuntime

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Shapes of real keys, so a key pasted where a variable NAME belongs is refused, not saved.
_KEY_SHAPES = re.compile(r"^(AIza|sk-|gsk_|xai-|hf_)")

# Keys given or sent in this process, however many managers it has: `redact` scrubs them.
_in_use: set[str] = set()
_declared_env: set[str] = set()  # every variable a backend reads its key from (for `redact`)


def find_key(
    providers: tuple[str, ...], env_names: tuple[str, ...], session: Mapping[str, str]
) -> tuple[str | None, str]:
    """(key, where it came from) — a `session` key first, then the environment variables in
    order. `where` names the source ("session" or the variable), never the key."""
    for provider in providers:
        if session.get(provider):
            return session[provider], "given for this session"
    for name in env_names:
        if os.environ.get(name):
            return os.environ[name], f"from ${name}"
    return None, "missing"


def declare(backend: type[RemoteRuntime]) -> None:
    """Note the variables a backend reads its key from, so `redact` scrubs their values."""
    _declared_env.update(backend.key_env_vars)


def _env_names(backend: type[RemoteRuntime], config: ModelConfig | None) -> tuple[str, ...]:
    own = config.options.get("api_key_env") if config is not None else None
    return (own,) if own else backend.key_env_vars


def key_for(
    backend: type[RemoteRuntime], session: Mapping[str, str], config: ModelConfig | None = None
) -> tuple[str | None, str]:
    """(key, where it came from) for a model of `backend`: a session key given for the model's
    name or for the backend's provider, then the model's `api_key_env`, else the backend's
    `key_env_vars`. A server that needs no key gives (None, "none (the server needs none)")."""
    names = tuple(n for n in (config.name if config else None, backend.provider) if n)
    key, where = find_key(names, _env_names(backend, config), session)
    if key is None and not _needs_key(backend, config):
        return None, "none (the server needs none)"
    return key, where


def _needs_key(backend: type[RemoteRuntime], config: ModelConfig | None) -> bool:
    return backend.needs_key or bool(config is not None and config.options.get("api_key_env"))


def require(backend: type[RemoteRuntime], config: ModelConfig, session: Mapping[str, str]) -> str | None:
    """The key a model will send (None: its server needs none); MissingCredentials if it needs
    one that is not set, naming where to put it."""
    key, _ = key_for(backend, session, config)
    if key is None and _needs_key(backend, config):
        what = f"a {backend.key_label} API key" if backend.key_label else "an API key"
        raise MissingCredentials(
            f"{config.name} needs {what} — set {' or '.join(_env_names(backend, config))}",
            model=config.name,
            provider=backend.provider or config.name,
        )
    return key


def check_env_name(value: str) -> str:
    """An `api_key_env` value must name a variable; a pasted key is refused without echoing it."""
    if not isinstance(value, str) or not _ENV_NAME.match(value) or _KEY_SHAPES.match(value):
        raise BadInput(
            "api_key_env takes the NAME of an environment variable that holds the key "
            "(e.g. OPENAI_API_KEY), not the key itself"
        )
    return value


def note_in_use(key: str) -> None:
    _in_use.add(key)


def known_keys() -> list[str]:
    """Every key this process could send: keys given or in use, the declared variables and any
    other `*_API_KEY` in the environment."""
    keys = list(_in_use)
    keys += [v for n, v in os.environ.items() if n in _declared_env or n.endswith("_API_KEY")]
    return [k for k in keys if len(k) >= 8]


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """`text` with every known key (and `extra` secrets) replaced by `***`."""
    for key in sorted({*known_keys(), *(k for k in extra if k and len(k) >= 8)}, key=len, reverse=True):
        text = text.replace(key, "***")
    return text


def providers(manager: RuntimeManager) -> dict[str, list[type[RemoteRuntime]]]:
    """Provider name -> the backends that declare it (e.g. the Gemini backend's "gemini")."""
    found: dict[str, list] = {}
    for runtime in manager.backend_names():
        try:
            backend = manager.backend(runtime)
        except BadInput:  # a backend whose packages are not installed declares nothing
            continue
        if backend.provider:
            found.setdefault(backend.provider, []).append(backend)
    return found


def use_key(manager: RuntimeManager, provider: str, key: str | None) -> list[str]:
    """Give (or with None, forget) the session key of `provider` — a provider a backend
    declares, or a registered model's name. The models it serves are unloaded, so they
    reconnect with it on next use, and the provider's default models are registered.
    Returns the models the key serves."""
    backends = check_provider(manager, provider)
    session = manager.settings.session_keys
    if key is None:
        session.pop(provider, None)
    else:
        key = key.strip()
        if not key:
            raise BadInput("no key given — paste it at the prompt, or set it in the environment")
        note_in_use(key)  # scrubbed from messages from now on, sent or not
        session[provider] = key
    manager.register_defaults()
    runtimes = {b.runtime_name for b in backends}
    served = [n for n in manager.names() if manager.config(n).runtime in runtimes] if backends else [provider]
    for name in served:
        manager.unload(name)
    return served


def check_provider(manager: RuntimeManager, provider: str) -> list[type[RemoteRuntime]]:
    """The backends that declare `provider` ([] for a registered model's name); BadInput if neither."""
    declared = providers(manager)
    if provider not in declared and provider not in manager:
        raise BadInput(
            f"no provider or model named {provider!r} — providers: {', '.join(sorted(declared)) or 'none'}, "
            "or a registered model's name"
        )
    return declared.get(provider, [])
