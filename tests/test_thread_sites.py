"""Threads are started in few places: the ones that own a worker (a handle's, a model's, a
pipeline's steps, a batch's runs, the kernel's server, transformers' generate). The faces
consume handles (lfwb/handles.py) instead of starting threads of their own, so a new
"run it on a thread and stream it back" cannot grow back unnoticed. Issue 18 counted 13."""

import re
from pathlib import Path

import lfwb

# What starts a thread. Starlette's `run_in_threadpool` is not counted: it is the pool that
# FastAPI runs every plain `def` route in, not a worker lfwb owns.
STARTS = re.compile(
    r"\b(threading\.Thread|Thread|ThreadPoolExecutor|Timer|start_new_thread|to_thread|run_in_executor)\("
)
AT_MOST = 6


def thread_sites() -> list[str]:
    root = Path(lfwb.__file__).parent
    return [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if STARTS.search(line.split("#", 1)[0])
    ]


def test_threads_are_started_only_where_a_worker_is_owned():
    sites = thread_sites()
    assert len(sites) <= AT_MOST, "threads are started here — follow a handle instead:\n" + "\n".join(sites)


def test_the_server_starts_no_thread_of_its_own_but_uvicorns():
    assert {s.split(":")[0] for s in thread_sites() if s.startswith("server/")} == {"server/background.py"}
