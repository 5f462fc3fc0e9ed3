"""What scoring an eval's answer costs beside the checks done by hand, and a cached pipeline's second run.

    .venv/bin/python benchmarks/evals.py [--answers 200] [--smollm2 10]

1. Scoring overhead per answer, the judge aside: six checks (contains, equals, regex,
   json-schema, jsx, a notebook function) through `Scorer.score` — and with its verdicts written
   to `eval_scores` as an eval does — against the same checks written out by hand on the same
   libraries (`in`, `re`, `json` + `jsonschema`, the preview's `validate_source`). Three kinds of
   answers: one word, long ones (a 4 KB component and a JSON document) and real SmolLM2 answers.
   Target: < 2 ms per answer.
2. A 4-step pipeline on SmolLM2 at temperature 0, run twice: the second run takes every step
   from the step cache (lfwb/pipelines/step_cache.py). Target: < 50 ms. And the same pipeline as
   an eval over three rows, run twice (every step cached the second time), per answer.

Medians of alternating rounds; the table prints ratios measured side by side in this run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

COMPONENT = (
    "```jsx\nimport { useState } from 'react';\n\nexport default function Pricing({ plans = [] }) {\n"
    '  const [yearly, setYearly] = useState(false);\n  return (\n    <section className="pricing">\n'
    + "".join(
        f'      <div className="plan plan-{i}"><h3>Plan {i}</h3><p>{{yearly ? {i * 90} : {i * 9}}} $</p>'
        f"<button onClick={{() => setYearly(!yearly)}}>Choose {i}</button></div>\n"
        for i in range(40)
    )
    + "    </section>\n  );\n}\n```\n"
)
DOCUMENT = json.dumps({"name": "Ada", "age": 36, "tags": [f"tag {i}" for i in range(5)], "note": "x" * 3000})
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "tags": {"type": "array"}},
    "required": ["name"],
}
CHECKS = [
    "contains",
    "equals",
    {"regex": "(?i)\\b(positive|negative|ada)\\b"},
    {"json-schema": "Person"},
    "jsx",
    {"python": "short"},
]


def short(answer: str, row: dict) -> tuple[bool, str]:
    return len(answer) < 200, f"{len(answer)} characters"


def by_hand(answer: str, row: dict, validator, validate_source) -> dict[str, bool]:
    """The same six checks written out on the same libraries: what lfwb adds is the rest."""
    verdicts = {
        "contains": row["expected"].casefold() in answer.casefold(),
        "equals": answer.strip().casefold() == row["expected"].strip().casefold(),
        "regex": re.search(r"(?i)\b(positive|negative|ada)\b", answer, re.M) is not None,
    }
    try:
        verdicts["json-schema"] = validator.is_valid(json.loads(answer))
    except ValueError:
        verdicts["json-schema"] = False
    block = re.search(r"```(?:jsx|tsx)?\n(.*?)```", answer, re.S)
    try:
        validate_source(block.group(1) if block else answer, "the component")
        verdicts["jsx"] = True
    except Exception:
        verdicts["jsx"] = False
    verdicts["short"] = short(answer, row)[0]
    return verdicts


def per_answer_ms(fn, answers: list[tuple[str, dict]]) -> float:
    start = time.perf_counter()
    for answer, row in answers:
        fn(answer, row)
    return (time.perf_counter() - start) * 1000 / len(answers)


def scoring(wb, answers: list[tuple[str, dict]], rounds: int) -> tuple[float, float, float]:
    from jsonschema import validators

    from lfwb.evals.checks import parse_checks
    from lfwb.evals.scoring import Scorer
    from lfwb.preview.source import validate_source
    from lfwb.store.evals import add_scores

    checks = parse_checks(CHECKS, "bench")
    scorer = Scorer(wb.store, wb.manager, wb.project_id, checks, {"Person": SCHEMA, "short": short})
    scorer.prepare()
    validator = validators.validator_for(SCHEMA)(SCHEMA)
    eval_run = wb.store.add_run(wb.project_id, "eval", status="done")["id"]

    def stored(answer: str, row: dict) -> None:
        verdicts = scorer.score(answer, row)
        add_scores(
            wb.store,
            [
                dict(eval_run_id=eval_run, row_index=0, model="m", check_name=k, passed=v.passed, reason=v.reason)
                for k, v in verdicts.items()
            ],
        )

    for answer, row in answers[:3]:  # warm: tree-sitter's grammar, jsonschema's validator
        by_hand(answer, row, validator, validate_source)
        stored(answer, row)
    times: dict[str, list[float]] = {"hand": [], "lfwb": [], "stored": []}
    for r in range(rounds):
        sides = [
            ("hand", lambda a, row: by_hand(a, row, validator, validate_source)),
            ("lfwb", lambda a, row: scorer.score(a, row)),
            ("stored", stored),
        ]
        for name, fn in sides if r % 2 == 0 else reversed(sides):
            times[name].append(per_answer_ms(fn, answers))
    return tuple(statistics.median(times[k]) for k in ("hand", "lfwb", "stored"))  # type: ignore[return-value]


def smollm2_answers(wb, n: int) -> list[tuple[str, dict]]:
    prompts = [
        "Is this review positive or negative? Explain briefly: the battery died after a day.",
        "Write a tiny React component that shows a greeting.",
        "Describe a person named Ada as a JSON object with name and age.",
    ]
    out = []
    for i in range(n):
        text = wb.generate(prompts[i % 3], "smollm2", max_tokens=96, temperature=0, seed=i).text
        out.append((text, {"input": prompts[i % 3], "expected": "negative"}))
    return out


PIPELINE = """
steps:
  - {name: facts, model: smollm2, prompt: "List two facts about {input}.", max_tokens: 24, temperature: 0, seed: 1}
  - {name: title, model: smollm2, prompt: "A title for: {steps.facts.output}", max_tokens: 12, temperature: 0, seed: 1}
  - {name: blurb, model: smollm2, prompt: "One sentence about {input}.", max_tokens: 24, temperature: 0, seed: 1}
  - {name: page, model: smollm2, prompt: "{steps.title.output}: {steps.blurb.output}", max_tokens: 24, temperature: 0, seed: 1}
"""


def cached_pipeline(wb) -> tuple[float, float, list[str]]:
    wb.save_pipeline(PIPELINE, name="four")
    t = time.perf_counter()
    first = wb.run_pipeline("four", "owls")
    first_ms = (time.perf_counter() - t) * 1000
    t = time.perf_counter()
    second = wb.run_pipeline("four", "owls")
    second_ms = (time.perf_counter() - t) * 1000
    assert first.status == "done", first.error
    return first_ms, second_ms, [s.status for s in second.steps.values()]


def cached_eval(wb) -> tuple[float, float]:
    wb.save_eval({"pipeline": "four", "checks": [{"contains": "owl"}]}, "four-eval")
    rows = ["otters", "oaks", "elms"]
    t = time.perf_counter()
    wb.run_eval("four-eval", ["smollm2"], rows)
    first_ms = (time.perf_counter() - t) * 1000 / len(rows)
    t = time.perf_counter()
    wb.run_eval("four-eval", ["smollm2"], rows)
    return first_ms, (time.perf_counter() - t) * 1000 / len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=200, help="answers scored per round (one word and long)")
    parser.add_argument("--smollm2", type=int, default=9, help="real SmolLM2 answers to score")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lfwb-bench-evals-"))
    os.environ["LFWB_DB"] = str(folder / "lfwb.db")
    from lfwb.workbench import workbench

    wb = workbench()
    word = [("positive", {"input": "a review", "expected": "positive"})] * args.answers
    long = [
        (COMPONENT if i % 2 else DOCUMENT, {"input": "a component", "expected": "Ada"}) for i in range(args.answers)
    ]
    real = smollm2_answers(wb, args.smollm2)
    print(f"Scoring per answer, 6 checks (the judge aside), median of {args.rounds} rounds; target < 2 ms")
    print(f"{'answers':<28}{'by hand ms':>12}{'lfwb ms':>10}{'+ stored ms':>13}{'lfwb/hand':>11}{'stored/hand':>13}")
    for label, answers in (
        ("one word", word),
        (f"long ({len(COMPONENT) // 1024} KB jsx, {len(DOCUMENT) // 1024} KB JSON)", long),
        (f"smollm2 ({len(real)} real)", real),
    ):
        hand, lfwb, stored = scoring(wb, answers, args.rounds)
        print(f"{label:<28}{hand:>12.3f}{lfwb:>10.3f}{stored:>13.3f}{lfwb / hand:>11.2f}{stored / hand:>13.2f}")
    first, second, statuses = cached_pipeline(wb)
    print("\nA 4-step pipeline on SmolLM2 at temperature 0, run twice; target: second < 50 ms")
    print(f"{'':<28}{'first ms':>12}{'second ms':>10}{'second/first':>14}  second run's steps")
    print(f"{'wb.run_pipeline':<28}{first:>12.0f}{second:>10.1f}{second / first:>14.4f}  {', '.join(statuses)}")
    first_eval, second_eval = cached_eval(wb)
    print(
        f"{'eval of it, per answer':<28}{first_eval:>12.0f}{second_eval:>10.1f}{second_eval / first_eval:>14.4f}"
        "  (3 rows; every step cached the second time)"
    )


if __name__ == "__main__":
    main()
