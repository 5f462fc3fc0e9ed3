"""Chat messages to prompt text for a transformers model: its chat template, an override, or
none; and templates with no system role (Gemma's), whose system prompt joins the first user turn.

    >>> fold_system_messages([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    [{'role': 'user', 'content': 'Be brief.\\n\\nHi'}]
"""

from __future__ import annotations

from ..errors import BadInput

_PROBE = "lfwb-probe-system-prompt"
SUPPORTED = "supported"


class ChatFormat:
    """A tokenizer's chat formatting, with an optional template that overrides its own."""

    def __init__(self, tokenizer, override: str | None = None):
        self.tokenizer = tokenizer
        self.template = override or getattr(tokenizer, "chat_template", None)
        self.system_role = self._probe_system_role()

    def _render(self, messages: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(
            messages, chat_template=self.template, add_generation_prompt=True, tokenize=False
        )

    def _probe_system_role(self) -> str:
        """Does the template keep a system message? Some (Gemma's) raise; some drop it silently."""
        if not self.template:
            return "no chat template: messages are sent as 'role: text' lines"
        try:
            kept = _PROBE in self._render([{"role": "system", "content": _PROBE}, {"role": "user", "content": "hi"}])
        except Exception:
            kept = False
        return SUPPORTED if kept else "folded into the first user turn (the template has no system role)"

    def prompt(self, messages: list[dict], model: str) -> str:
        """The prompt text the model sees for these chat messages (its chat template applied)."""
        if not self.template:
            return "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
        if self.system_role != SUPPORTED:
            messages = fold_system_messages(messages)
        try:
            return self._render(messages)
        except Exception as e:  # jinja's raise_exception(), a bad override, ...
            raise BadInput(f"the chat template of {model} rejected these messages: {e}") from None


def fold_system_messages(messages: list[dict]) -> list[dict]:
    """System messages joined into the next user turn, for templates with no system role."""
    folded: list[dict] = []
    pending: list[str] = []
    for message in messages:
        if message["role"] == "system":
            pending.append(message["content"])
        elif message["role"] == "user" and pending:
            folded.append({**message, "content": "\n\n".join([*pending, message["content"]])})
            pending = []
        else:
            folded.append(message)
    if pending:  # a system prompt with no user turn after it becomes one
        folded.append({"role": "user", "content": "\n\n".join(pending)})
    return folded
