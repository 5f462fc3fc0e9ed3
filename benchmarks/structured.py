"""Structured output: tok/s with and without a JSON Schema grammar, on llama.cpp and transformers.

    .venv/bin/python benchmarks/structured.py [--rounds 2] [--max-tokens 200] [--backends llama,raw,transformers]

The model is the bundled SmolLM2-135M GGUF on every path, the schema the issue's nested order
(customer, items[name, size enum, tags[]], rush) as a Pydantic model, bounded as lfwb bounds
it (lfwb/structured.py), the answers long (up to --max-tokens, 200 by default), greedy:

  llama.cpp via lfwb     wb.generate(..., schema=Order): lfwb's grammar sampling (llama_grammar.py)
  llama.cpp raw          llama-cpp-python's own grammar (LlamaGrammar.from_json_schema), in a
                         process of its own (two llama.cpp thread teams in one process slow each other)
  transformers via lfwb  the same GGUF converted for transformers, masked by xgrammar

Each prompt runs free and under the schema back to back (which goes first alternates); tok/s
counts the tokens after the first over the time after the first (decoding, not the prompt);
the ratio is taken per pair, then the median. Target (issue 19): constrained ≥ 0.8× free.
The first-token cost of compiling the schema is timed on its own (cold caches), and as the
TTFT difference once compiled (lfwb keeps compiled schemas per loaded model).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Literal

# benchmarks/transformers.py lies beside this file: keep the folder off sys.path so `import transformers` finds the library.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SYSTEM = (
    "Reply with the order as JSON: customer, items (each with name, size small/medium/large, and tags), "
    "and rush (true or false)."
)
# Five items each with a few extras: answers of about 150-200 tokens under the schema.
PROMPTS = [
    "Ana orders: two large oat lattes (extra hot, no sugar), a small green tea (honey, lemon), a medium mocha "
    "(cinnamon, cream), a large cold brew (vanilla, ice) and a small croissant (warm, butter). Rush it.",
    "Bob wants a large hot chocolate (cream, marshmallows), a medium cappuccino (cocoa, skim milk), a small "
    "espresso (double), a large iced tea (lemon, mint) and a medium bagel (toasted, cream cheese). Not urgent.",
    "Catering for Chen: large ham sandwiches (mustard, rye), medium cheese sandwiches (vegan, gluten free), "
    "large coffees (decaf, oat milk), medium teas (milk, sugar) and small cookies (chocolate, boxed). Urgent.",
]


def order_schema():
    from pydantic import BaseModel

    class Item(BaseModel):
        name: str
        size: Literal["small", "medium", "large"]
        tags: list[str]

    class Order(BaseModel):
        customer: str
        items: list[Item]
        rush: bool

    return Order


# -- raw llama-cpp-python, in a process of its own --------------------------------------------


def serve_raw() -> None:
    """`--serve-raw`: one JSON request per stdin line, one JSON result line each."""
    import llama_cpp
    from llama_cpp import Llama, LlamaGrammar

    from lfwb.runtimes import default_model_path
    from lfwb.runtimes.base import DEFAULT_REPEAT_PENALTY
    from lfwb.runtimes.llama_cpp import DEFAULT_CONTEXT, FLASH_ATTENTION

    llama = Llama(model_path=default_model_path(), n_ctx=DEFAULT_CONTEXT, flash_attn=FLASH_ATTENTION, verbose=False)
    for line in sys.stdin:
        req = json.loads(line)
        llama_cpp.llama_set_n_threads(llama.ctx, req["threads"], req["threads"])
        start = time.perf_counter()
        grammar = LlamaGrammar.from_json_schema(json.dumps(req["schema"]), verbose=False) if req["schema"] else None
        compiled = time.perf_counter() - start
        first, parts = None, []
        for chunk in llama.create_chat_completion(
            messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": req["prompt"]}],
            max_tokens=req["max_tokens"],
            temperature=0,
            seed=0,
            repeat_penalty=DEFAULT_REPEAT_PENALTY,
            grammar=grammar,
            stream=True,
        ):
            piece = chunk["choices"][0]["delta"].get("content")
            if piece:
                first = first or time.perf_counter()
                parts.append(piece)
        end = time.perf_counter()
        print(
            json.dumps(
                dict(
                    text="".join(parts),
                    tokens=len(parts),
                    ttft=first - start,
                    compile=compiled,
                    tps=(len(parts) - 1) / (end - first),
                )
            ),
            flush=True,
        )


class RawPeer:
    def __init__(self):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve-raw"], text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def run(self, prompt: str, schema: dict | None, max_tokens: int, threads: int) -> dict:
        request = dict(prompt=prompt, schema=schema, max_tokens=max_tokens, threads=threads)
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


# -- lfwb ---------------------------------------------------------------------------------------


def run_lfwb(wb, model: str, prompt: str, schema, max_tokens: int) -> dict:
    from lfwb.errors import SchemaMismatch

    first: list[float] = []
    runs: list = []  # the RunResult, kept by on_start: an answer cut mid-object raises, its text kept
    start = time.perf_counter()
    try:
        wb.generate(
            prompt,
            model=model,
            system=SYSTEM,
            schema=schema,
            max_tokens=max_tokens,
            temperature=0,
            seed=0,
            on_start=runs.append,
            on_text=lambda text, result: first or first.append(time.perf_counter()),
        )
    except SchemaMismatch:
        pass
    end = time.perf_counter()
    result = runs[0]
    return dict(
        text=result.text,
        tokens=result.output_tokens,
        ttft=first[0] - start,
        tps=(result.output_tokens - 1) / (end - first[0]),
    )


def compile_costs(wb, schema: dict) -> dict[str, float]:
    """Seconds to compile the schema with cold caches, per path (the TTFT a first use pays)."""
    import llama_cpp
    from llama_cpp import LlamaGrammar

    from lfwb.runtimes import llama_grammar
    from lfwb.runtimes.transformers_schema import SchemaGrammar

    costs = {}
    llama = wb.manager.runtime("smollm2")._llama if "smollm2" in wb.manager else None

    def sampler(grammar) -> None:  # llama.cpp parses the GBNF as the generation sets up its sampler
        if llama is not None:
            made = llama_cpp.llama_sampler_init_grammar(
                llama._model.vocab, grammar._grammar.encode(), grammar._root.encode()
            )
            llama_cpp.llama_sampler_free(made)

    llama_grammar._gbnf.cache_clear()
    start = time.perf_counter()
    sampler(llama_grammar.schema_grammar(schema))
    costs["llama.cpp via lfwb: schema -> GBNF -> sampler"] = time.perf_counter() - start
    start = time.perf_counter()
    sampler(LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False))
    costs["llama.cpp raw: schema -> GBNF -> sampler"] = time.perf_counter() - start
    if "smol-hf" in wb.manager:
        runtime = wb.manager.runtime("smol-hf")
        if runtime.loaded:
            start = time.perf_counter()
            grammar = SchemaGrammar(runtime.tokenizer, runtime.model)
            costs["transformers: the model's vocabulary (once per load)"] = time.perf_counter() - start
            start = time.perf_counter()
            grammar.processor(schema, None)
            costs["transformers: the first schema on the loaded model"] = time.perf_counter() - start
            other = {**schema, "properties": {**schema["properties"], "note": {"type": "string", "maxLength": 40}}}
            start = time.perf_counter()
            grammar.processor(other, None)
            costs["transformers: another schema after it"] = time.perf_counter() - start
            start = time.perf_counter()
            grammar.processor(schema, None)
            costs["transformers: the same schema again (cached)"] = time.perf_counter() - start
    return costs


def valid(schema_obj, text: str) -> bool:
    try:
        schema_obj.parse(text)
    except Exception:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--backends", default="llama,raw,transformers")
    parser.add_argument("--serve-raw", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_raw:
        return serve_raw()
    backends = args.backends.split(",")

    workdir = Path(tempfile.mkdtemp(prefix="lfwb-bench-"))
    os.environ["LFWB_DB"] = str(workdir / "bench.db")
    import lfwb
    from lfwb.runtimes import ModelConfig, default_model_path
    from lfwb.runtimes.cpu import physical_cores
    from lfwb.structured import resolve_schema

    wb = lfwb.workbench()
    Order = order_schema()
    schema = resolve_schema(Order)
    threads = physical_cores()
    paths = {}
    if "llama" in backends:
        wb.manager.config("smollm2").threads = threads  # the raw peer gets the same count
        paths["llama.cpp via lfwb"] = lambda prompt, s, n: run_lfwb(wb, "smollm2", prompt, Order if s else None, n)
    if "raw" in backends:
        raw = RawPeer()

        def run_raw(prompt: str, constrained: bool, n: int) -> dict:
            # The thread count lfwb's llama.cpp used for its last tokens (it leaves busy cores alone).
            used = wb.manager.info("smollm2").get("threads_last_run") if "llama" in backends else None
            return raw.run(prompt, schema.json_schema if constrained else None, n, used or threads)

        paths["llama.cpp raw"] = run_raw
    if "transformers" in backends:
        print("loading SmolLM2 for transformers (the GGUF is converted once, then cached) ...", flush=True)
        wb.manager.register(
            ModelConfig(name="smol-hf", source=default_model_path(), runtime="transformers", threads=threads)
        )
        wb.manager.load("smol-hf")
        paths["transformers via lfwb"] = lambda prompt, s, n: run_lfwb(wb, "smol-hf", prompt, Order if s else None, n)
    for run in paths.values():  # warm up: the model loaded, the schema compiled once
        run("Hi", False, 8), run("Hi", True, 8)

    rows: dict[str, dict[bool, list[dict]]] = {name: {False: [], True: []} for name in paths}
    ratios: dict[str, list[float]] = {name: [] for name in paths}
    load_before = os.getloadavg()[0]
    for i in range(args.rounds):
        for j, prompt in enumerate(PROMPTS):
            for name, run in paths.items():
                pair = {}
                for constrained in (False, True) if (i + j) % 2 == 0 else (True, False):
                    pair[constrained] = run(prompt, constrained, args.max_tokens)
                    rows[name][constrained].append(pair[constrained])
                ratios[name].append(pair[True]["tps"] / pair[False]["tps"])
                print(
                    f"  {name:22} {prompt[:30]!r}: free {pair[False]['tps']:.1f} tok/s ({pair[False]['tokens']} "
                    f"tokens), schema {pair[True]['tps']:.1f} tok/s ({pair[True]['tokens']} tokens)",
                    flush=True,
                )
    load_after = os.getloadavg()[0]
    costs = compile_costs(wb, schema.json_schema)
    if "raw" in backends:
        raw.close()

    med = statistics.median
    print(
        f"\nSmolLM2-135M Q4_1, the nested order schema (bounded), greedy, up to {args.max_tokens} tokens, "
        f"{args.rounds} round(s) x {len(PROMPTS)} prompts, {threads} threads, load {load_before:.1f} -> {load_after:.1f}\n"
    )
    print(
        f"{'path':24} {'free tok/s':>10} {'schema tok/s':>12} {'ratio':>6} {'TTFT free':>10} {'TTFT schema':>12} "
        f"{'tokens':>7} {'valid free':>10} {'valid schema':>12}"
    )
    for name in paths:
        free, con = rows[name][False], rows[name][True]
        n = len(con)
        print(
            f"{name:24} {med(r['tps'] for r in free):10.1f} {med(r['tps'] for r in con):12.1f} "
            f"{med(ratios[name]):6.2f} {1000 * med(r['ttft'] for r in free):8.0f}ms "
            f"{1000 * med(r['ttft'] for r in con):10.0f}ms {med(r['tokens'] for r in con):7.0f} "
            f"{sum(valid(schema, r['text']) for r in free):>6}/{n:<3} {sum(valid(schema, r['text']) for r in con):>8}/{n:<3}"
        )
    print("\ncompiling the schema, cold caches (the first answer's TTFT pays it; later ones reuse it):")
    for name, seconds in costs.items():
        print(f"  {name:52} {1000 * seconds:8.1f} ms")
    ok = all(med(ratios[name]) >= 0.8 for name in paths if name != "llama.cpp raw")
    print(f"\ntarget (issue 19): constrained >= 0.8x free through lfwb: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
