"""One run as a person reads it: its record, what the model was sent, then the answer.

`Workbench.show_run` (the magic `%lfw show`, `GET /api/v1/runs/{id}`) returns a `RunView`: a
dict of the run's columns plus `sent` (lfwb/sent.py: each message with its role, part and
token count, the summary and retrieved chunks marked), a pipeline's `steps` (each with its own
`sent`) and a compare's `columns`. It draws itself as text and as HTML that loads nothing:
everything in it may be a model's or a user's text.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .errors import NotFound
from .sent import sent_of
from .untrusted import NO_MATH, escape

if TYPE_CHECKING:
    from .store import Store

# Columns shown above the sent section (prompt and output are the sections themselves).
HEAD = ("kind", "model", "answered_by", "status", "error", "started_at", "finished_at", "parent_id")
PART = {"system": "system", "history": "earlier turn", "turn": "this turn", "prompt": "prompt, sent as is"}


def run_view(store: Store, row: dict) -> RunView:
    """The RunView of run `row`."""
    view = RunView(row)
    view["sent"] = _sent(store, row)
    if row["kind"] == "pipeline":
        view["steps"] = [
            {
                **{k: s[k] for k in ("id", "name", "status", "model", "answered_by", "output", "attempt")},
                "sent": _sent(store, s, row["id"]),
            }
            for s in store.list_steps(row["id"])
        ]
    if row["kind"] == "compare":
        view["columns"] = [
            {k: c[k] for k in ("id", "model", "answered_by", "status", "output_tokens")}
            for c in store.query("SELECT * FROM runs WHERE parent_id = ? ORDER BY id", (row["id"],))
        ]
    return view


def step_sent(store: Store, step: dict) -> dict | None:
    """What pipeline step `step` (its row) sent (`GET /api/v1/steps/{id}`)."""
    return _sent(store, step, step["run_id"])


def _sent(store: Store, row: dict, run_id: int | None = None) -> dict | None:
    """What a run (or, with `run_id`, its step `row`) sent. One that took its answer from the
    cache (lfwb/pipelines/step_cache.py) asked nothing: it shows what its source sent."""
    source = row.get("cached_from")
    if source is not None:
        try:
            origin = (source, None) if run_id is None else (store.get_step(source)["run_id"], source)
        except NotFound:
            origin = None
        sent = sent_of(store, *origin) if origin is not None else None
        if sent is not None and origin is not None:
            return {**sent, "cached_from": {"run_id": origin[0], "step_id": origin[1]}}
    if run_id is None:
        return sent_of(store, row["id"]) or unrecorded(row)
    return sent_of(store, run_id, row["id"]) or unrecorded(row)


def unrecorded(row: dict) -> dict | None:
    """A stand-in for what a run recorded before requests were kept (or imported): its prompt
    column and settings, marked `recorded: False`."""
    if row.get("prompt") is None:
        return None
    try:
        settings = json.loads(row.get("params_json") or "{}")
    except ValueError:
        settings = {}
    message = {"role": "prompt", "content": row["prompt"], "tokens": None, "part": "prompt", "summary": None}
    return {
        "messages": [{**message, "chunks": []}],
        "settings": settings,
        "raw": True,
        "tokens": None,
        "counted_by": None,
        "recorded": False,
    }


def settings_text(settings: dict) -> str:
    """`max_tokens 256 · temperature 0.7 · …`: the settings that were set (a schema by its size)."""
    shown = []
    for key, value in sorted(settings.items()):
        if value is None or value == [] or isinstance(value, dict) and key != "json_schema":
            continue
        if key == "json_schema":
            value = f"{{…}} ({len(json.dumps(value))} characters)"
        shown.append(f"{key} {value}")
    return " · ".join(shown)


def tokens_of(message: dict, counted_by: str | None) -> str:
    if message.get("tokens") is None:
        return "tokens not counted"
    about = "≈" if counted_by == "estimate" else ""
    return f"{about}{message['tokens']} token{'s' if message['tokens'] != 1 else ''}"


def message_head(message: dict, counted_by: str | None) -> str:
    """`user · 37 tokens · this turn · 1 retrieved chunk`."""
    parts = [message["role"], tokens_of(message, counted_by)]
    if message["part"] != message["role"]:
        parts.append(PART.get(message["part"], message["part"]))
    if message.get("summary"):
        turns = message["summary"].get("turns", 0)
        parts.append(f"with the summary of {turns} earlier turn{'s' if turns != 1 else ''}")
    if message.get("chunks"):
        n = len(message["chunks"])
        parts.append(f"{n} retrieved chunk{'s' if n != 1 else ''}")
    return " · ".join(parts)


def chunk_label(chunk: dict) -> str:
    return (
        f"retrieved chunk: {chunk['context_name']}, chunk {chunk['chunk_index']} "
        f"(context {chunk['context_id']}, chunk id {chunk['chunk_id']})"
    )


def segments(message: dict) -> list[tuple[str | None, str]]:
    """The message's text cut at its marks: (label or None, text), in order."""
    marks = [(c["start"], c["end"], chunk_label(c)) for c in message.get("chunks", []) if c.get("start") is not None]
    summary = message.get("summary")
    if summary and summary.get("start") is not None:
        marks.append((summary["start"], summary["end"], f"summary of {summary['turns']} earlier turns, by lfwb"))
    text, at = message["content"], 0
    out: list[tuple[str | None, str]] = []
    for start, end, label in sorted(marks):
        if start < at:
            continue  # overlapping marks: the first one wins
        if start > at:
            out.append((None, text[at:start]))
        out.append((label, text[start:end]))
        at = end
    if at < len(text) or not out:
        out.append((None, text[at:]))
    return out


def shown_segments(message: dict) -> list[tuple[str | None, str]]:
    """`segments` for reading: a mark starts on a line of its own, so the line breaks on
    either side of it are not shown again."""
    parts = segments(message)
    shown = []
    for i, (label, text) in enumerate(parts):
        if label is None:
            if i + 1 < len(parts) and text.endswith("\n"):
                text = text[:-1]
            if i > 0 and text.startswith("\n"):
                text = text[1:]
            if not text and len(parts) > 1:
                continue
        shown.append((label, text))
    return shown


def sent_head(sent: dict) -> str:
    n = len(sent["messages"])
    what = "prompt" if sent["raw"] and n == 1 else f"{n} message{'s' if n != 1 else ''}"
    cached = sent.get("cached_from")
    if cached is not None:
        where = f"run {cached['run_id']}" + (f", step {cached['step_id']}" if cached["step_id"] else "")
        what += f" · nothing was asked: the answer came from the cache ({where} sent this)"
    if sent.get("recorded") is False:
        return f"sent · {what} (only the prompt was kept for this run)"
    if sent["tokens"] is None:
        return f"sent · {what}"
    by = "estimated" if sent["counted_by"] == "estimate" else f"counted by {sent['counted_by']}'s tokenizer"
    return f"sent · {what} · {sent['tokens']} tokens ({by})"


def sent_text(sent: dict | None, indent: str = "") -> list[str]:
    if sent is None:
        return [f"{indent}sent · not recorded"]
    lines = [f"{indent}{sent_head(sent)}", f"{indent}settings: {settings_text(sent['settings'])}"]
    for message in sent["messages"]:
        lines.append(f"{indent}── {message_head(message, sent['counted_by'])}")
        for label, text in shown_segments(message):
            body = text.split("\n")
            if label is not None and len(body) > 1 and body[-1] == "":
                body.pop()  # a chunk that ends its line: its closing mark says so
            if label is None:
                lines += [f"{indent}{line}" for line in body]
            else:
                lines += [f"{indent}┌ {label}"] + [f"{indent}│ {line}" for line in body] + [f"{indent}└"]
    return lines


def sent_html(sent: dict | None) -> str:
    if sent is None:
        return "<p><em>sent · not recorded</em></p>"
    out = [f"<p><b>{escape(sent_head(sent))}</b><br><small>{escape(settings_text(sent['settings']))}</small></p>"]
    for message in sent["messages"]:
        body = "".join(
            escape(text)
            if label is None
            else f'<span class="lfwb-mark" style="display:block;border-left:3px solid #0f766e;'
            f'background:rgba(15,118,110,.08);padding-left:6px"><small><b>{escape(label)}</b></small>'
            f"&#10;{escape(text)}</span>"
            for label, text in shown_segments(message)
        )
        out.append(
            f'<div class="lfwb-message" style="margin:4px 0"><small><b>'
            f"{escape(message_head(message, sent['counted_by']))}</b></small>"
            f'<pre style="white-space:pre-wrap;margin:2px 0 6px 0">{body}</pre></div>'
        )
    return "".join(out)


class RunView(dict):
    """A run's columns, `sent`, and for a pipeline its `steps` (see the module docstring)."""

    def answer_head(self) -> str:
        tokens = self.get("output_tokens")
        return f"answer · {self.get('status')}" + (f" · {tokens} tokens" if tokens is not None else "")

    def head(self) -> list[tuple[str, Any]]:
        timing = [
            f"{self[k]} {label}"
            for k, label in (("input_tokens", "in"), ("output_tokens", "out"), ("ttft_ms", "ms to first token"))
            if self.get(k) is not None
        ]
        fields = [(k, self.get(k)) for k in HEAD if self.get(k) is not None]
        return fields + ([("tokens", " · ".join(timing))] if timing else [])

    def as_text(self) -> str:
        width = max(len(k) for k, _ in self.head())
        lines = [f"run {self['id']}"] + [f"{k.ljust(width)}  {v}" for k, v in self.head()] + [""]
        for step in self.get("steps", []):
            lines += [f"step {step['name']} · {step['model']} · {step['status']}"] + sent_text(step["sent"], "  ")
            lines += ["  answer", *[f"  {line}" for line in (step["output"] or "").split("\n")], ""]
        if "steps" not in self:
            lines += sent_text(self["sent"]) + [""]
        for column in self.get("columns", []):
            lines.append(f"column {column['model']}: run {column['id']} ({column['status']}; %lfw show {column['id']})")
        lines += [self.answer_head(), self.get("output") or ""]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><th style='text-align:left'>{escape(k)}</th><td>{escape(str(v))}</td></tr>" for k, v in self.head()
        )
        parts = [f"<p><b>run {self['id']}</b></p><table>{rows}</table>"]
        for step in self.get("steps", []):
            parts.append(
                f"<h4>step {escape(step['name'])} · {escape(str(step['model']))} · {escape(step['status'])}</h4>"
            )
            parts.append(sent_html(step["sent"]))
            parts.append(f"<p><b>answer</b></p><pre style='white-space:pre-wrap'>{escape(step['output'] or '')}</pre>")
        if "steps" not in self:
            parts.append(sent_html(self["sent"]))
        for column in self.get("columns", []):
            parts.append(f"<p>column {escape(column['model'])}: run {column['id']} ({escape(column['status'])})</p>")
        parts.append(f"<p><b>{escape(self.answer_head())}</b></p>")
        parts.append(f"<pre style='white-space:pre-wrap'>{escape(self.get('output') or '')}</pre>")
        return f'<div class="lfwb-run {NO_MATH}">{"".join(parts)}</div>'

    def _repr_pretty_(self, p, cycle: bool) -> None:
        p.text(self.as_text())
