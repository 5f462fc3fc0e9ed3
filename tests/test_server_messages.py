"""The core speaks neutrally and each face adds its own hint: an HTTP client's error line names no
notebook flag or cell, while the magic still shows the `%lfw`/`--flag` way out."""

from __future__ import annotations

import pytest

from conftest import run_error, run_ok

API = "/api/v1"
NOTEBOOK_WORDS = ("%lfw", "%%lfw", "%config", "--", "cell")


def requests(http) -> dict:
    return {
        "blank prompt": http.post(f"{API}/generate", json={"prompt": "   ", "model": "fake"}),
        "blank prompt, seed path": http.post(f"{API}/runtime/generate", json={"prompt": " \n", "model_name": "fake"}),
        "vector search, embeddings off": http.get(f"{API}/contexts/search", params={"q": "blue", "mode": "vector"}),
        "pipeline without a name": http.post(
            f"{API}/pipelines", json={"definition": "steps:\n  - name: a\n    prompt: x\n"}
        ),
        "pipeline needing a missing context": (
            http.post(
                f"{API}/pipelines",
                json={
                    "definition": "name: p\nsteps:\n  - name: a\n    model: fake\n    prompt: 'use {context:style}'\n"
                },
            ),
            http.post(f"{API}/pipelines/p/runs", json={"input": "x"}),
        )[1],
        "remote model without a base_url": http.post(
            f"{API}/runtime/models/register", json={"model_name": "o", "runtime_type": "openai_compat", "model_id": "m"}
        ),
        "remote base_url that is not a URL": http.post(
            f"{API}/runtime/models/register",
            json={
                "model_name": "o",
                "runtime_type": "openai_compat",
                "model_id": "m",
                "options": {"base_url": "ftp://x"},
            },
        ),
        "unknown run": http.get(f"{API}/runs/999"),
        "unknown model": http.get(f"{API}/runtime/models/nope/info"),
        "taken project name": (
            http.post(f"{API}/projects", json={"name": "dup"}),
            http.post(f"{API}/projects", json={"name": "dup"}),
        )[1],
    }


def test_a_definition_with_a_control_character_is_one_line_not_a_500(server):
    answer = server.http.post(f"{API}/pipelines", json={"definition": "\x13name: p"})
    assert answer.status_code == 400
    assert answer.json()["line"].startswith("PipelineError: pipeline: not valid YAML")
    assert "p" not in [p["name"] for p in server.http.get(f"{API}/pipelines").json()]  # nothing saved


def test_http_error_lines_name_no_notebook_flag_or_cell(server, scripted):
    scripted.model("fake", ["x"])
    scripted.wb.embeddings = False  # for "vector search, embeddings off"
    answers = requests(server.http)
    for name, answer in answers.items():
        assert 400 <= answer.status_code < 500, (name, answer.text)
        body = answer.json()
        for text in (body["line"], body["message"]):
            assert not any(word in text for word in NOTEBOOK_WORDS), f"{name}: {text}"
    assert answers["blank prompt"].json()["line"] == "BadInput: the prompt is empty"
    assert answers["unknown run"].json()["line"] == "NotFound: no run with id 999"


@pytest.mark.parametrize(
    "cell, shown",
    [
        ("%%lfw generate -m fake\n   \n", "the prompt is empty. Write it in the cell body."),
        ("%%lfw compare -m fake,fake2\n   \n", "the prompt is empty. Write it in the cell body."),
        ("%%lfw chat -m fake --system ''\nHi", "the system prompt is empty. Leave out --system for the default."),
        (
            "%lfw context search blue --mode vector",
            "use mode bm25, or turn embeddings on (Lfwb.embeddings = True: it "
            "embeds this project's contexts once). Here: --mode bm25, or %config Lfwb.embeddings = True.",
        ),
    ],
)
def test_the_magic_adds_its_own_hint_to_the_neutral_message(ip, scripted, capsys, cell, shown):
    scripted.model("fake", ["x"])
    scripted.model("fake2", ["y"])
    run_ok(ip, "%config Lfwb.embeddings = False")  # for the vector search
    seen = run_error(ip, cell, capsys)
    assert shown in seen and len(seen.splitlines()) == 1, seen
