"""The RuntimeManager and record_generation: on the scripted backend, and (marked slow) on the
real bundled model where llama.cpp itself is what is tested (SmolLM2 135M)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import jinja2
import pytest

from conftest import eventually, loaded
from fixtures.scripted import Fail, ScriptedRuntime, Stall, words
from lfwb import Workbench
from lfwb.errors import GenerationError, InsufficientMemory, ModelLoadError, ModelNotFound, PromptTooLong
from lfwb.runtimes import Chunk, GenerationConfig, RuntimeManager, default_model_path
from lfwb.runtimes.cpu import physical_cores, threads_for
from lfwb.runtimes.gguf_meta import read_gguf_metadata

# Greedy SmolLM2 keeps counting far past any max_tokens used here: a long, steady stream.
# Greedy SmolLM2 writes well past 250 tokens for this one (a counting prompt stopped early with
# flash attention on: keep tests on a prompt whose length does not hang on a digit).
COUNTING = "Write a very long story about a lighthouse keeper and his cat."
STORY = "Once upon a time a lighthouse keeper lived with his cat by the sea"
MIB = 2**20


def worker_threads() -> list[threading.Thread]:
    """lfwb threads other than each model's own (idle) worker."""
    return [t for t in threading.enumerate() if t.name.startswith("lfwb-") and not t.name.startswith("lfwb-model-")]


def model_threads_gone(timeout: float = 5.0) -> bool:
    return eventually(
        lambda: not any(t.name.startswith("lfwb-model-") for t in threading.enumerate()),
        timeout,
        "the models' worker threads to end",
    )


def interrupt_main_thread() -> None:
    """A real SIGINT to the main thread, as the notebook's stop button sends to a kernel."""
    main = threading.main_thread().ident
    threading.Thread(target=signal.pthread_kill, args=(main, signal.SIGINT)).start()


def test_generate_records_a_done_run(scripted):
    fake = scripted.model("fake", words(STORY), input_tokens=9)
    result = scripted.wb.generate("Say hello.", model="fake", max_tokens=12, temperature=0)
    assert result.text == "".join(words(STORY)[:12]) and result.status == "done" and result.answered_by == "fake"
    row = scripted.wb.store.get_run(result.run_id)
    assert row["status"] == "done" and row["output"] == result.text and row["model"] == "fake"
    assert row["prompt"] == "Say hello." and row["output_tokens"] == result.output_tokens == 12
    assert row["input_tokens"] == 9 and row["ttft_ms"] > 0 and row["duration_ms"] >= row["ttft_ms"]
    assert '"max_tokens": 12' in row["params_json"] and row["finished_at"] and row["runtime"] == "scripted"
    [asked] = fake.asked  # the prompt went as one user message, with the settings given
    assert asked.messages == [{"role": "user", "content": "Say hello."}] and asked.temperature == 0


@pytest.mark.slow
def test_stream_yields_text_as_it_is_written(wb):
    gen = GenerationConfig(messages=[{"role": "user", "content": COUNTING}], max_tokens=20, temperature=0)
    chunks = list(wb.manager.stream("smollm2", gen))
    texts = [c.text for c in chunks if c.text]
    assert len(texts) >= 15  # one piece per token, not one lump at the end
    assert "".join(texts).startswith("Once upon a time")
    assert chunks[-1].input_tokens > 10 and chunks[-1].finish_reason == "length"


@pytest.mark.slow
def test_chat_uses_the_template_from_the_gguf_metadata(wb):
    messages = [{"role": "system", "content": "You are a pirate."}, {"role": "user", "content": "Who are you?"}]
    chat = wb.manager.chat("smollm2", messages, max_tokens=16, temperature=0)
    template = read_gguf_metadata(default_model_path())["tokenizer.chat_template"]
    formatted = (
        jinja2.Environment()
        .from_string(template)
        .render(messages=messages, add_generation_prompt=True, bos_token="", eos_token="")
    )
    raw = wb.manager.generate("smollm2", GenerationConfig(prompt=formatted, max_tokens=16, temperature=0))
    assert chat.text == raw.text and chat.input_tokens == raw.input_tokens
    plain = wb.manager.generate("smollm2", GenerationConfig(prompt="Who are you?", max_tokens=16, temperature=0))
    assert plain.input_tokens < chat.input_tokens  # the template really wrapped the messages


@pytest.mark.slow
def test_same_seed_gives_same_text(wb):
    greedy = [wb.generate("Name three colours.", max_tokens=16, temperature=0, seed=7).text for _ in range(2)]
    assert greedy[0] == greedy[1] and greedy[0]
    sampled = [wb.generate("Name three colours.", max_tokens=16, temperature=1.0, seed=11).text for _ in range(2)]
    assert sampled[0] == sampled[1]


def test_interrupt_cancels_keeps_partial_text_and_model(scripted, sigint):
    wb = scripted.wb
    fake = scripted.model("fake", words(STORY)[:5] + [Stall()] + words(STORY)[5:])
    seen: list[str] = []

    def on_text(text, result):
        seen.append(text)
        if len(seen) == 5:
            interrupt_main_thread()

    with pytest.raises(KeyboardInterrupt):
        wb.generate(COUNTING, model="fake", max_tokens=250, on_text=on_text)
    row = wb.store.list_runs(limit=1)[0]
    assert row["status"] == "cancelled" and row["output"] == seen[-1] == "Once upon a time a"
    assert row["output_tokens"] == 5 and fake.log == ["load", "start", "cancelled", "end"]
    assert worker_threads() == [] and not wb.manager.busy("fake")
    assert loaded(wb.manager) == {"fake"}  # the model stays loaded for the next cell
    assert wb.generate("Say hello.", model="fake", max_tokens=4).text == "Once upon a time"


def test_closing_a_stream_stops_the_worker(scripted):
    fake = scripted.model("fake", words(STORY)[:3] + [Stall()] + words(STORY)[3:])
    stream = scripted.manager.stream("fake", GenerationConfig(prompt=COUNTING, max_tokens=250))
    got = [next(stream).text for _ in range(3)]
    stream.close()
    assert got == ["Once", " upon", " a"] and fake.log[-2:] == ["cancelled", "end"]
    assert worker_threads() == [] and not scripted.manager.busy("fake")
    scripted.manager.unload_all()  # an unloaded model keeps no thread
    assert model_threads_gone()


def test_two_generations_on_one_model_take_turns(scripted):
    go = threading.Event()
    stall = Stall(until=go)
    fake = scripted.model("fake", ["Name", stall, " a fruit"])
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(scripted.wb.generate("Name a fruit.", model="fake").text))
        for _ in range(2)
    ]
    threads[0].start()
    assert stall.reached.wait(10)  # the first is mid-answer...
    threads[1].start()
    eventually(
        lambda: len(scripted.wb.store.list_runs()) == 2, what="the second run's row"
    )  # ...the second has asked...
    assert fake.log == ["load", "start"]  # ...and waits its turn
    go.set()
    for t in threads:
        t.join(30)
    assert results == ["Name a fruit", "Name a fruit"]
    assert fake.log == ["load", "start", "end", "start", "end"]  # one after the other, whole
    assert [r["status"] for r in scripted.wb.store.list_runs()] == ["done"] * 2


def test_threads_leave_out_cores_that_other_programs_keep_busy():
    assert [threads_for(2, 0.1), threads_for(2, 1.3), threads_for(8, 3.0), threads_for(2, 6.0)] == [2, 1, 5, 1]


@pytest.mark.slow
def test_a_busy_machine_gets_fewer_threads_unless_told(wb):
    wb.manager.register(name="pinned", runtime="llama_cpp", source=default_model_path(), threads=physical_cores())
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(physical_cores())]
    try:
        for _ in range(3):  # measured between generations
            time.sleep(0.3)
            wb.generate("Say hi.", max_tokens=4, temperature=0)
        assert wb.manager.info("smollm2")["threads_last_run"] == 1
        wb.generate("Hi", model="pinned", raw=True, max_tokens=1)  # --threads is taken as given
        assert wb.manager.info("pinned")["threads_last_run"] == physical_cores()
    finally:
        for b in burners:
            b.kill()
            b.wait()


CHILD = textwrap.dedent("""
    import sys
    sys.path.insert(0, sys.argv[4])  # tests/, for the scripted backend
    import lfwb
    from fixtures.scripted import Scripted, Stall, words
    wb = lfwb.Workbench(sys.argv[1])
    block = sys.argv[2] == "block"
    # Some text, a pause past the store's flush interval (the text is flushed in it), more, then it waits.
    story = words("Once upon a time a lighthouse keeper lived with his cat")
    Scripted(wb).model("fake", story[:4] + [Stall(seconds=0.3)] + story[4:] + [Stall()])
    def on_text(text, result):
        if block:
            print("started", flush=True)
            sys.stdin.readline()  # stays alive, its run still `running`
    wb.generate(sys.argv[3], model="fake", on_text=on_text if block else None)
""")


def test_killed_kernel_leaves_an_interrupted_run_with_partial_text(tmp_path):
    db = str(tmp_path / "shared.db")
    tests = os.path.dirname(__file__)
    Workbench(db).close()  # create the file before two processes race to
    killed = subprocess.Popen([sys.executable, "-c", CHILD, db, "run", COUNTING, tests])
    alive = subprocess.Popen(
        [sys.executable, "-c", CHILD, db, "block", "Say hi.", tests],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert alive.stdout.readline().strip() == "started"
        watcher = Workbench(db)
        deadline = time.time() + 60
        while time.time() < deadline:
            rows = watcher.store.query("SELECT * FROM runs WHERE owner_pid = ?", (killed.pid,))
            if rows and len(rows[0]["output"] or "") >= 10:  # flushed while it was writing
                break
            time.sleep(0.05)
        os.kill(killed.pid, signal.SIGKILL)
        killed.wait()
        watcher.close()
        after = Workbench(db)  # the next Workbench on the file notices
        dead = after.store.query("SELECT * FROM runs WHERE owner_pid = ?", (killed.pid,))[0]
        live = after.store.query("SELECT * FROM runs WHERE owner_pid = ?", (alive.pid,))[0]
        assert dead["status"] == "interrupted" and dead["output"].startswith("Once upon a time")
        assert live["status"] == "running"  # its kernel is still alive: left alone
        after.close()
    finally:
        for p in (killed, alive):
            if p.poll() is None:
                p.kill()
            p.wait()


def test_a_second_model_past_the_budget_evicts_the_idle_one(scripted):
    m = scripted.manager
    first = scripted.model("first", ["Hi"], memory=100 * MIB)
    second = scripted.model("second", ["Hi"], memory=100 * MIB)
    m.budget_bytes = 150 * MIB
    m.load("first")
    m.load("second")
    assert loaded(m) == {"second"} and first.log == ["load", "unload"]
    assert scripted.wb.generate("Say hi.", model="first").text == "Hi"  # first comes back, second goes
    assert loaded(m) == {"first"} and second.log == ["load", "unload"]
    assert m.used_bytes() == 100 * MIB <= m.budget_bytes


def test_the_least_recently_used_idle_model_goes_first_and_a_busy_one_never(scripted):
    m = scripted.manager
    go = threading.Event()
    busy = scripted.model("busy", ["Hi", Stall(until=go)], memory=100 * MIB)
    old = scripted.model("old", ["Hi"], memory=100 * MIB)
    scripted.model("recent", ["Hi"], memory=100 * MIB)
    m.budget_bytes = 350 * MIB
    stream = m.stream("busy", GenerationConfig(prompt="Hi"))
    assert next(stream).text == "Hi"  # busy is loaded first and is mid-answer
    m.load("old")
    m.load("recent")
    scripted.model("new", ["Hi"], memory=100 * MIB)
    m.load("new")
    assert loaded(m) == {"busy", "recent", "new"} and old.log == ["load", "unload"]
    scripted.model("big", ["Hi"], memory=300 * MIB)
    with pytest.raises(InsufficientMemory, match="held by models that are busy — wait, or unload one"):
        m.load("big")  # only with busy unloaded would it fit
    assert "busy" in loaded(m) and busy.log == ["load", "start"] and "big" not in loaded(m)
    go.set()
    stream.close()


def test_a_model_that_can_never_fit_is_refused_before_loading(scripted):
    m = scripted.manager
    scripted.model("fake", ["Hi"])
    m.load("fake")
    huge = scripted.model("huge", ["Hi"], memory=2**44)
    with pytest.raises(InsufficientMemory, match="huge needs about 16384.0 GiB but the memory budget is"):
        m.load("huge")
    assert loaded(m) == {"fake"} and huge.log == []  # nothing evicted for it, nothing read


def test_a_model_that_fails_to_load_says_which_and_stays_unloaded(scripted):
    scripted.model("broken", ["Hi"], load_error=OSError("truncated file"))
    with pytest.raises(ModelLoadError, match="could not load broken from broken: truncated file"):
        scripted.wb.generate("Hi", model="broken")
    assert loaded(scripted.manager) == set()
    [row] = scripted.wb.store.list_runs()
    assert row["status"] == "failed" and "truncated file" in row["error"]


def test_a_failure_mid_answer_keeps_the_text_and_marks_the_run_failed(scripted):
    scripted.model("flaky", words(STORY)[:3] + [Fail(GenerationError("the connection dropped"))])
    with pytest.raises(GenerationError, match="the connection dropped"):
        scripted.wb.generate("Hi", model="flaky")
    [row] = scripted.wb.store.list_runs()
    assert row["status"] == "failed" and row["output"] == "Once upon a" and row["output_tokens"] == 3
    assert "the connection dropped" in row["error"] and not scripted.manager.busy("flaky")


def test_generate_and_a_recorded_run_add_up_the_same_stream_alike(scripted):
    # Usage and cost arrive before the stream's last chunk: both readers keep them.
    usage = {"input_tokens": 7, "output_tokens": 4, "thinking_tokens": 2}
    steps = ["Once", " upon", Chunk(usage=usage, cost_usd=0.0123), Chunk(finish_reason="stop")]
    scripted.model("g", steps, remote=True, source="gemini-2.5-pro")
    direct = scripted.manager.generate("g", GenerationConfig(prompt="Hi"))
    run = scripted.wb.generate("Hi", model="g")
    assert (direct.text, direct.input_tokens, direct.output_tokens) == (run.text, run.input_tokens, run.output_tokens)
    assert direct.usage == run.usage == usage and direct.cost_usd == run.cost_usd == 0.0123
    assert (direct.text, direct.output_tokens, direct.finish_reason) == ("Once upon", 4, "stop")


def test_listeners_hear_a_model_register_load_finish_and_unload(scripted):
    heard: list[tuple[str, str]] = []
    unsubscribe = scripted.manager.subscribe(lambda event, name: heard.append((event, name)))
    scripted.model("fake", ["Hi"])
    scripted.wb.generate("Hi", model="fake")
    scripted.manager.unload("fake")
    events = [event for event, name in heard if name == "fake"]
    assert [e for e in events if e != "loading"] == ["registered", "loaded", "finished", "unloaded"]
    assert events.index("loading") < events.index("loaded")  # progress while it loads
    unsubscribe()
    scripted.manager.load("fake")
    assert heard[-1] == ("unloaded", "fake")  # no longer listening


def test_registration_survives_a_new_workbench(scripted, db_path):
    scripted.model("short-ctx", ["Hi"])
    scripted.manager.register(name="short-ctx", runtime="scripted", source="short-ctx", context_length=256, threads=1)
    manager = RuntimeManager()
    manager.add_backend(ScriptedRuntime)  # the backend is known; the model comes from the store
    other = Workbench(str(db_path), manager=manager)
    try:
        config = other.manager.config("short-ctx")
        assert config.context_length == 256 and config.threads == 1 and config.runtime == "scripted"
        assert other.manager.generate("short-ctx", GenerationConfig(prompt="Hi", max_tokens=3)).text == "Hi"
    finally:
        other.close()


def test_unknown_model_lists_registered_names_and_writes_nothing(wb):
    with pytest.raises(ModelNotFound) as e:
        wb.generate("Hi", model="smolm2")
    assert "registered: smollm2" in str(e.value) and "Did you mean 'smollm2'" in str(e.value)
    assert wb.store.list_runs() == []


@pytest.mark.slow
def test_prompt_longer_than_the_context_window(wb):
    # llama.cpp works in windows of 256 tokens: 64 asked, 256 given.
    wb.manager.register(name="tiny-window", runtime="llama_cpp", source=default_model_path(), context_length=64)
    assert wb.manager.info("tiny-window")["context_length"] == 256
    wb.manager.load("smollm2")
    before = wb.store.list_runs()
    with pytest.raises(PromptTooLong, match=r"the prompt is \d+ tokens but tiny-window's context window is 256"):
        wb.generate("word " * 300, model="tiny-window", max_tokens=5)
    assert wb.store.list_runs() == before  # bad input: no run row
    assert wb.manager.stats()["models"][0]["loaded"]  # smollm2 untouched
    assert wb.generate("Hi", model="tiny-window", max_tokens=3).status == "done"


def test_missing_and_corrupt_files_are_refused_at_registration(wb, tmp_path):
    with pytest.raises(ModelLoadError, match="no GGUF file at"):
        wb.manager.register(name="gone", runtime="llama_cpp", source=str(tmp_path / "gone.gguf"))
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(os.urandom(4096))
    with pytest.raises(ModelLoadError, match="is not a GGUF file"):
        wb.manager.register(name="junk", runtime="llama_cpp", source=str(junk))
    assert wb.manager.names() == ["smollm2"] and wb.store.list_models() == []


@pytest.mark.slow
def test_a_damaged_gguf_fails_to_load_with_one_line_and_nothing_printed(tmp_path):
    """A file whose header reads fine but whose tensors are cut off: llama.cpp itself refuses it,
    quietly, in a process of its own so that the C library's output (fd 1 and 2) can be checked."""
    cut = tmp_path / "cut.gguf"
    with open(default_model_path(), "rb") as f:
        cut.write_bytes(f.read(4 * 2**20))
    script = textwrap.dedent(f"""
        import lfwb
        from lfwb.errors import ModelLoadError
        wb = lfwb.Workbench({str(tmp_path / "x.db")!r})
        wb.manager.load("smollm2")
        wb.generate("Hi", max_tokens=3)
        wb.manager.register(name="cut", runtime="llama_cpp", source={str(cut)!r})
        try:
            wb.manager.load("cut")
        except ModelLoadError as e:
            import sys
            sys.stdout.write("ERROR " + str(e).replace(chr(10), " ") + chr(10))
        wb.manager.unload_all()
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR llama.cpp could not load") and "damaged" in lines[0]


def test_stats_count_runs_tokens_and_speed(scripted):
    scripted.model("fake", words(STORY), memory=150 * MIB)
    scripted.wb.generate(COUNTING, model="fake", max_tokens=10)
    scripted.wb.generate(COUNTING, model="fake", max_tokens=10)
    stats = scripted.manager.stats()
    [row] = [r for r in stats["models"] if r["name"] == "fake"]
    assert row["loaded"] and row["runs"] == 2 and row["tokens_out"] == 20 and row["last_tok_s"] > 1
    assert row["bytes"] == 150 * MIB and row["load_s"] is not None
    assert stats["used_bytes"] == 150 * MIB and stats["rss_bytes"] > 0 and stats["budget_bytes"] > stats["used_bytes"]
