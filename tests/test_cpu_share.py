"""Local generations share the CPU: the core lease (lfwb/runtimes/cpu.py) and llama.cpp's use of it.

Every test leases from a folder of its own ($LFWB_CORES_DIR), so lfwb running elsewhere on the
machine neither takes part nor is disturbed.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from conftest import run_ok
from lfwb.runtimes import GenerationConfig, default_model_path
from lfwb.runtimes.cpu import CoreSlots, physical_cores

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from lfwb.runtimes.cpu import CoreSlots

    lease = CoreSlots(count=2, folder=Path(sys.argv[1])).take(int(sys.argv[2]), wait_s=0)
    print(" ".join(map(str, lease.slots)), flush=True)
    sys.stdin.readline()  # hold until told (or killed)
""")


@pytest.fixture
def cores_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cores"
    monkeypatch.setenv("LFWB_CORES_DIR", str(folder))
    monkeypatch.delenv("LFWB_SHARE_CORES", raising=False)
    return folder


def holder(folder: Path, cores: int) -> tuple[subprocess.Popen, set[int]]:
    """Another process that leases `cores` of two cores and holds them until its stdin closes."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), str(cores)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    return proc, {int(s) for s in proc.stdout.readline().split()}


def test_two_holders_in_one_process_get_disjoint_cores(cores_dir):
    slots = CoreSlots(count=2)
    with slots.take(1) as a, slots.take(2) as b:
        assert (a.slots, b.slots) == ((0,), (1,))
        assert (a.threads, b.threads) == (1, 1)  # b asked for two and got one: it runs one thread


def test_two_processes_get_disjoint_cores(cores_dir):
    proc, theirs = holder(cores_dir, 1)
    try:
        with CoreSlots(count=2).take(2) as mine:
            assert len(theirs) == 1 and set(mine.slots) == {0, 1} - theirs
    finally:
        proc.communicate("")


def test_a_killed_process_gives_its_cores_back(cores_dir):
    proc, theirs = holder(cores_dir, 2)
    with CoreSlots(count=2).take(1, wait_s=0) as during:
        assert theirs == {0, 1} and during.slots == ()
    proc.kill()
    proc.wait()
    with CoreSlots(count=2).take(2, wait_s=0) as after:
        assert after.slots == (0, 1) and after.threads == 2


def test_a_waiter_gets_the_core_a_holder_gives_back(cores_dir):
    slots = CoreSlots(count=2)
    first = slots.take(2)
    got = []
    waiter = threading.Thread(target=lambda: got.append(slots.take(2, wait_s=60)))
    waiter.start()
    try:
        for _ in range(6000):  # the holder looks between tokens; here, until the waiter says so
            if first.between_tokens():
                break
            time.sleep(0.01)
        waiter.join(60)
        assert first.slots == (0,) and [g.slots for g in got] == [(1,)]
        assert first.threads == got[0].threads == 1
    finally:
        first.release()
        for g in got:
            g.release()


def test_a_generation_that_waited_in_vain_runs_and_takes_the_first_core_given_back(cores_dir):
    slots = CoreSlots(count=2)
    a, b = slots.take(1), slots.take(1)
    with slots.take(1, wait_s=0.2) as late:  # gives up waiting after 0.2 s
        assert late.slots == () and late.threads == 1  # no core, yet it computes
        assert not a.between_tokens() and a.slots == (0,)  # a holder keeps its last core
        late.between_tokens()
        assert late.slots == ()
        a.release()
        late.between_tokens()
        assert late.slots == (0,) and late.threads == 1
    b.release()


def test_with_sharing_off_every_generation_takes_what_it_wants(cores_dir, monkeypatch):
    slots = CoreSlots(count=2)
    with slots.take(2):
        monkeypatch.setenv("LFWB_SHARE_CORES", "0")
        with slots.take(2, wait_s=0) as other:
            assert other.threads == 2 and other.slots == ()


needs_two_cores = pytest.mark.skipif(physical_cores() < 2, reason="sharing needs at least two physical cores")


@needs_two_cores
def test_a_generation_computes_with_fewer_threads_while_another_holds_cores(ip, cores_dir):
    cores = physical_cores()
    run_ok(ip, f"%lfw register pinned --runtime llama_cpp --source {default_model_path()} --threads {cores}")
    with CoreSlots().take(cores - 1):  # another generation (here, in this process) holds the rest
        run_ok(ip, "%%lfw generate -m pinned --max-tokens 2 --temperature 0\nHi")
        assert run_ok(ip, "%lfw info pinned")["threads_last_run"] == 1
    run_ok(ip, "%%lfw generate -m pinned --max-tokens 2 --temperature 0\nHi")
    assert run_ok(ip, "%lfw info pinned")["threads_last_run"] == cores


@needs_two_cores
def test_a_generation_gives_a_core_to_one_that_waits_and_ends_with_one_thread(wb, cores_dir):
    manager = wb.manager
    manager.register(name="pinned", runtime="llama_cpp", source=default_model_path(), threads=2)
    gen = GenerationConfig(prompt="Once upon a time, in a land far away,", max_tokens=64, temperature=0)
    other = []
    chunks = manager.stream("pinned", gen)
    for chunk in chunks:
        if chunk.text and not other:  # tokens are flowing: now another generation wants a core
            other.append(CoreSlots(count=2).take(1, wait_s=60))
    try:
        assert other[0].slots != () and manager.info("pinned")["threads_last_run"] == 1
    finally:
        other[0].release()


@pytest.mark.slow
@needs_two_cores
def test_a_transformers_generation_on_the_cpu_computes_with_the_cores_it_leases(wb, cores_dir, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from fixtures.tiny_models import build_tiny_llama

    cores = physical_cores()
    wb.manager.register(name="tiny", runtime="transformers", source=str(build_tiny_llama(tmp_path / "tiny")))
    with CoreSlots().take(cores - 1):
        wb.generate("Hello", model="tiny", raw=True, max_tokens=2, temperature=0)
        assert wb.manager.info("tiny")["threads_last_run"] == 1
    wb.generate("Hello", model="tiny", raw=True, max_tokens=2, temperature=0)
    assert wb.manager.info("tiny")["threads_last_run"] == cores
