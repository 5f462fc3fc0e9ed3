"""What the pipeline executor costs: per step against calling the runtime directly, and
independent steps against their sum.

    .venv/bin/python benchmarks/pipeline.py [--rounds 7] [--steps 20]

Two backends defined here and added with `manager.add_backend`, so the figures are lfwb's
own and not a model's:

- instant (local): streams four fixed chunks at once. A chain of --steps steps, each prompt
  filled from the one before (`{steps.sN.output}`), through `wb.run_pipeline`, against the same
  number of generations one after another through `runs.record_generation` (each recorded as a
  run, as `%%lfw generate` does) and through `manager.generate` (the runtime, nothing
  recorded). Overhead per step = (pipeline − direct) / steps.
- sleepy (remote): answers after a fixed delay, like a server across the network. Three
  independent steps on three such models (0.3, 0.4 and 0.5 s) through `wb.run_pipeline`,
  against the same three generations through `record_generation` one after another.

Each round runs every side once, alternating which goes first; the table shows medians.
Targets (issue 10): executor overhead < 5 ms per step against the runtime; independent steps'
wall time ≤ 1.1× the longest one.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from lfwb.runtimes.base import Chunk, GenerationConfig, ModelConfig, Runtime

CHUNKS = ["Sure", ",", " here", "."]
DELAYS = {"slow1": 0.3, "slow2": 0.4, "slow3": 0.5}


class Instant(Runtime):
    """A local model that writes CHUNKS at once: what is left to time is lfwb itself."""

    runtime_name = "bench_instant"
    local = True

    def __init__(self, config: ModelConfig):
        super().__init__(config)
        self._loaded = False

    def estimate_memory(self) -> int:
        return 2**20

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self, progress=None) -> None:
        self._loaded = True

    def unload(self) -> None:
        self._loaded = False

    def stream(self, gen: GenerationConfig, cancel: threading.Event) -> Iterator[Chunk]:
        for i, text in enumerate(CHUNKS):
            yield Chunk(text=text, output_tokens=1, finish_reason="stop" if i == len(CHUNKS) - 1 else None)


class Sleepy(Instant):
    """A remote model that answers after `options["delay_s"]` (a server far away)."""

    runtime_name = "bench_sleepy"
    local = False

    def stream(self, gen: GenerationConfig, cancel: threading.Event) -> Iterator[Chunk]:
        if cancel.wait(self.config.options["delay_s"]):
            return
        yield from super().stream(gen, cancel)


def chain(steps: int) -> dict:
    """s0 ← {input}, s1 ← s0's output, …: one step after another on the instant model."""
    return {
        "steps": [
            {
                "name": f"s{i}",
                "model": "fast",
                "max_tokens": 8,
                "prompt": "Say: {input}" if i == 0 else f"Go on from: {{steps.s{i - 1}.output}}",
            }
            for i in range(steps)
        ]
    }


INDEPENDENT = {"steps": [{"name": name, "model": name, "prompt": "Answer: {input}"} for name in DELAYS]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="lfwb-bench-"))
    os.environ["LFWB_DB"] = str(workdir / "bench.db")
    import lfwb
    from lfwb.runs import record_generation

    wb = lfwb.workbench()
    manager = wb.manager
    manager.add_backend(Instant)
    manager.add_backend(Sleepy)
    manager.register(ModelConfig(name="fast", source="fast", runtime="bench_instant"), persist=False)
    for name, delay in DELAYS.items():
        manager.register(
            ModelConfig(name=name, source=name, runtime="bench_sleepy", options={"delay_s": delay}), persist=False
        )

    def gen(prompt: str, max_tokens: int = 8) -> GenerationConfig:
        return GenerationConfig(prompt=prompt, max_tokens=max_tokens)

    def timed(work) -> float:
        start = time.perf_counter()
        work()
        return time.perf_counter() - start

    def pipeline(spec: dict) -> None:
        result = wb.run_pipeline(spec, input="a login form")
        assert result.status == "done", result.error

    def recorded(model: str, n: int = 1) -> None:
        for i in range(n):
            record_generation(wb.store, manager, wb.project_id, model, gen(f"Say: {i}"))

    def runtime(n: int) -> None:
        for i in range(n):
            manager.generate("fast", gen(f"Say: {i}"))

    def serial() -> dict[str, float]:
        return {name: timed(lambda: recorded(name)) for name in DELAYS}

    pipeline(chain(3)), recorded("fast", 3), runtime(3)  # warm up: load, first rows, imports

    per_step: dict[str, list[float]] = {"pipeline": [], "record_generation": [], "manager.generate": []}
    walls: list[float] = []
    longest: list[float] = []
    sums: list[float] = []
    load_before = os.getloadavg()[0]
    for r in range(args.rounds):
        sides = [
            ("pipeline", lambda: pipeline(chain(args.steps))),
            ("record_generation", lambda: recorded("fast", args.steps)),
            ("manager.generate", lambda: runtime(args.steps)),
        ]
        if r % 2:
            sides.reverse()
        for name, work in sides:
            per_step[name].append(timed(work) * 1000 / args.steps)
        if r % 2:
            each = serial()
            walls.append(timed(lambda: pipeline(INDEPENDENT)))
        else:
            walls.append(timed(lambda: pipeline(INDEPENDENT)))
            each = serial()
        longest.append(max(each.values()))
        sums.append(sum(each.values()))
        print(
            f"round {r + 1}: "
            + "  ".join(f"{n} {v[-1]:.2f} ms/step" for n, v in per_step.items())
            + f"  independent {walls[-1]:.3f} s (longest {longest[-1]:.3f}, sum {sums[-1]:.3f})",
            flush=True,
        )

    med = {name: statistics.median(v) for name, v in per_step.items()}
    over_runtime = statistics.median(p - g for p, g in zip(per_step["pipeline"], per_step["manager.generate"]))
    over_recorded = statistics.median(p - g for p, g in zip(per_step["pipeline"], per_step["record_generation"]))
    to_longest = statistics.median(w / m for w, m in zip(walls, longest))
    to_sum = statistics.median(w / s for w, s in zip(walls, sums))

    print(
        f"\n{args.steps}-step chain on an instant local model ({len(CHUNKS)} chunks per answer), "
        f"{args.rounds} rounds (medians), {os.cpu_count()} cores\n"
    )
    print(f"{'':34}{'ms per step':>12}")
    for name, label in (
        ("manager.generate", "manager.generate (runtime only)"),
        ("record_generation", "record_generation (one run each)"),
        ("pipeline", "wb.run_pipeline (one step each)"),
    ):
        print(f"{label:34}{med[name]:12.2f}")
    print(f"\nthree independent steps answering after {', '.join(f'{d:g}' for d in DELAYS.values())} s\n")
    print(f"{'':34}{'seconds':>12}")
    for label, values in (
        ("wb.run_pipeline (at once)", walls),
        ("longest step alone", longest),
        ("the three one after another", sums),
    ):
        print(f"{label:34}{statistics.median(values):12.3f}")
    print()
    checks = [
        ("overhead / step vs runtime", f"{over_runtime:.2f} ms", "< 5 ms", over_runtime < 5),
        ("overhead / step vs recorded", f"{over_recorded:.2f} ms", "(shown)", True),
        ("independent / longest", f"{to_longest:.3f}", "≤ 1.1", to_longest <= 1.1),
        ("independent / sum", f"{to_sum:.3f}", "(shown)", True),
    ]
    for what, value, target, ok in checks:
        print(f"{what:30}{value:>12}   target {target:8} {'ok' if ok else 'MISSED'}")
    print(f"\nload average before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    if load_before > 0.5 * (os.cpu_count() or 1):
        print("warning: other programs were using the CPU; run again on a quiet machine")
    manager.unload_all()


if __name__ == "__main__":
    main()
