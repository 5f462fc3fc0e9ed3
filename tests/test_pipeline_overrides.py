"""`%lfw run NAME --max-tokens/--temperature/--seed`: settings given on the line reach every step."""

from __future__ import annotations

from conftest import run_error, run_ok
from fixtures.scripted import words

TWO_STEPS = """
steps:
  - name: analyse
    model: a
    prompt: "List the parts of {input}"
    temperature: 0.9
  - name: code
    model: a
    prompt: "Write code for: {steps.analyse.output}"
"""


def test_settings_on_the_run_line_override_every_steps_own(ip, scripted):
    script = scripted.model("a", words("a header"))
    run_ok(ip, f"%%lfw pipeline ui\n{TWO_STEPS}")
    run_ok(ip, '%lfw run ui --input "a form" --temperature 0 --seed 7 --max-tokens 5')
    asked = [(g.temperature, g.seed, g.max_tokens) for g in script.asked]
    assert asked == [(0.0, 7, 5), (0.0, 7, 5)]


def test_a_bad_setting_on_the_run_line_is_one_line_and_runs_nothing(ip, scripted, capsys):
    script = scripted.model("a", words("a header"))
    run_ok(ip, f"%%lfw pipeline ui\n{TWO_STEPS}")
    runs_before = len(scripted.wb.store.list_runs())
    message = run_error(ip, '%lfw run ui --input "a form" --temperature 5', capsys)
    assert "temperature" in message and len(message.splitlines()) == 1 and "Traceback" not in message
    assert script.asked == [] and len(scripted.wb.store.list_runs()) == runs_before
