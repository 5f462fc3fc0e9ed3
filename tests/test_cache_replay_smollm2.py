"""The step cache and replay end to end on the bundled SmolLM2 (llama.cpp)."""

from __future__ import annotations

import pytest

from conftest import run_ok
from fixtures.scripted import words

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

FOUR_STEPS = {
    "steps": [
        {"name": "parts", "model": "smollm2", "prompt": "List three parts of {input}.", "max_tokens": 24},
        {"name": "title", "model": "smollm2", "prompt": "A title for: {steps.parts.output}", "max_tokens": 12},
        {"name": "colour", "model": "smollm2", "prompt": "A colour for {input}.", "max_tokens": 8},
        {"name": "code", "model": "smollm2", "prompt": "HTML for: {steps.title.output}", "max_tokens": 24},
    ]
}


def generations(wb) -> int:
    return next(m["runs"] for m in wb.manager.stats()["models"] if m["name"] == "smollm2")


def test_a_four_step_smollm2_pipeline_run_twice_at_temperature_0_generates_nothing_the_second_time(wb):
    first = wb.run_pipeline(FOUR_STEPS, "a login form", temperature=0)
    asked = generations(wb)
    second = wb.run_pipeline(FOUR_STEPS, "a login form", temperature=0)
    assert asked == 4 and generations(wb) == 4
    assert {s.status for s in second.steps.values()} == {"cached"}
    assert [s.text for s in second.steps.values()] == [s.text for s in first.steps.values()]
    forced = wb.run_pipeline(FOUR_STEPS, "a login form", temperature=0, cache=False)
    assert generations(wb) == 8 and [s.text for s in forced.steps.values()] == [s.text for s in first.steps.values()]


def test_scripted_cells_replay_onto_smollm2(ip, scripted):
    scripted.model("a", [], answers=[words("Blue."), words("A cat.")])
    first = ip.execution_count
    run_ok(ip, "%%lfw generate -m a --temperature 0 --max-tokens 12\nName a colour.")
    run_ok(ip, "%%lfw generate -m a --temperature 0 --max-tokens 12\nName an animal.")
    result = run_ok(ip, f"%lfw replay -m smollm2 --cells {first}-{ip.execution_count - 1}")
    assert [row.columns()[1] for row in result.rows] == ["a → smollm2"] * 2
    assert all(r.status == "done" and r.text and r.output_tokens <= 12 for r in result.runs)
    assert result.rows[0].columns()[3]  # tok/s: a real model's rate beside the old one
