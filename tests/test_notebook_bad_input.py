"""Bad input on the surfaces added last (issue 17, section 5), each reproduction as a test: YAML
that expands or nests without end, `-o` names that break the shell, lone surrogates, exports
that overwrite or half-write, batches read whole, refused chat messages that leave a session."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from conftest import ROOT, one_line, run_error, run_ok, table_counts
from fixtures.scripted import words

ONE_STEP = 'steps:\n  - name: answer\n    model: fake\n    prompt: "Describe {input}"\n'
# 391 bytes; `depends_on` holds 9 levels of 9 aliases: 9⁹ strings once expanded ("billion laughs").
BOMB = "steps:\n- name: a\n  model: fake\n  prompt: hi\n  depends_on:\n" + "".join(
    f"  - &{chr(97 + i)} [{','.join([f'*{chr(96 + i)}'] * 9 if i else ['x'] * 9)}]\n" for i in range(9)
)


# -- YAML -------------------------------------------------------------------------------------


def test_the_alias_bomb_is_refused_in_one_line_with_bounded_memory_and_time():
    assert len(BOMB.encode()) < 400 and BOMB.count("*") == 72
    # In a process of its own, capped at 1 GiB and 60 s: before, it took 100 s and GBs.
    code = textwrap.dedent(f"""
        import resource, sys
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
        from lfwb.errors import PipelineError
        from lfwb.pipelines.spec import parse_pipeline
        try:
            parse_pipeline({BOMB!r}, name="bomb")
        except PipelineError as e:
            print(e)
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "anchors and aliases" in one_line(done.stdout.strip())


def test_a_yaml_anchor_in_a_pipeline_cell_is_one_line_and_saves_nothing(ip, scripted, capsys):
    scripted.model("fake", words("ok"))
    seen = one_line(run_error(ip, "%%lfw pipeline p\n" + BOMB.split("  - &d")[0], capsys))
    assert "anchors and aliases (&name, *name, <<:) are not taken (line 6)" in seen
    assert all(p["source"] != "saved" for p in scripted.wb.pipelines())


def test_an_alias_bomb_over_http_is_refused_at_once(server):
    answer = server.http.post("/api/v1/pipelines", json={"name": "bomb", "definition": BOMB})
    assert answer.status_code == 400 and "anchors and aliases" in answer.json()["message"]


@pytest.mark.parametrize(
    "deep", ["[" * 5000 + "]" * 5000, "{a: " * 5000 + "1" + "}" * 5000, "".join(" " * i + "a:\n" for i in range(400))]
)
def test_yaml_nested_thousands_deep_is_one_line_not_a_recursion_error(ip, scripted, capsys, deep):
    seen = one_line(run_error(ip, f"%%lfw pipeline deep\n{deep}", capsys))
    assert "nests deeper than 32 levels" in seen


def test_thousands_of_steps_each_waiting_for_the_next_are_one_line_not_a_recursion_error(ip, scripted, capsys):
    # 3,000 steps fit the size cap; written last-needed-first, the cycle check recursed 3,000 deep.
    steps = "".join(f"  - {{name: s{i}, model: fake, prompt: x, depends_on: [s{i + 1}]}}\n" for i in range(2999))
    definition = f"steps:\n{steps}  - {{name: s2999, model: fake, prompt: x}}\n"
    scripted.model("fake", words("ok"))
    seen = one_line(run_error(ip, f"%%lfw pipeline long\n{definition}", capsys))
    assert "3000 steps — at most 200 are taken" in seen
    assert all(p["source"] != "saved" for p in scripted.wb.pipelines())


def test_a_definition_has_the_same_size_cap_in_a_cell_as_over_http(ip, scripted, server, capsys):
    from lfwb.pipelines.yaml_source import MAX_DEFINITION_BYTES

    scripted.model("fake", words("ok"))
    big = ONE_STEP + "# " + "x" * MAX_DEFINITION_BYTES + "\n"
    seen = one_line(run_error(ip, f"%%lfw pipeline big\n{big}", capsys))
    assert f"at most {MAX_DEFINITION_BYTES} are taken" in seen
    answer = server.http.post("/api/v1/pipelines", json={"name": "big", "definition": big})
    assert answer.status_code in (400, 422) and str(MAX_DEFINITION_BYTES) in answer.text
    fits = ONE_STEP + "# " + "x" * (MAX_DEFINITION_BYTES - len(ONE_STEP) - 10) + "\n"
    assert server.http.post("/api/v1/pipelines", json={"name": "fits", "definition": fits}).status_code == 201
    run_ok(ip, f"%%lfw pipeline fits2\n{fits}")
    assert scripted.wb.pipeline("fits2").version == 1


# -- -o NAME ----------------------------------------------------------------------------------


SHELL_NAMES = [
    "__builtins__",
    "get_ipython",
    "In",
    "Out",
    "exit",
    "quit",
    "_",
    "__",
    "___",
    "_ih",
    "_oh",
    "_dh",
    "_i",
    "_i3",
    "_3",
    "__name__",
    "__x__",
    "class",
    "None",
    "1x",
    "a-b",
]


@pytest.fixture
def shell_names_kept(_shell):
    kept = {n: _shell.user_ns[n] for n in SHELL_NAMES if n in _shell.user_ns}
    yield
    for n in SHELL_NAMES:
        _shell.user_ns.pop(n, None)
    _shell.user_ns.update(kept)
    # The output names follow the displayhook, which moved on if a cell showed a result meanwhile.
    _shell.user_ns.update({n: getattr(_shell.displayhook, n) for n in ("_", "__", "___") if n in kept})


@pytest.mark.parametrize("name", SHELL_NAMES)
def test_o_refuses_a_name_the_shell_keeps_for_itself(ip, scripted, capsys, shell_names_kept, name):
    scripted.model("fake", words("ok"))
    seen = one_line(run_error(ip, f"%%lfw generate -m fake -o {name}\nHi", capsys))
    assert "-o" in seen and name in seen
    assert scripted.wb.store.list_runs() == [] and isinstance(run_ok(ip, "%lfw runs"), list)
    assert callable(ip.user_ns["get_ipython"]) and isinstance(ip.user_ns["In"], list)


# -- lone surrogates --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell",
    [
        "%%lfw generate -m fake\nSay {bad}",
        "%%lfw generate -m fake --system {bad}\nHi",
        "%%lfw chat -m fake\nSay {bad}",
        "%lfw run p --input {bad}",
        "%lfw run p -i bad",
        "%lfw run p --over bads",
        "%lfw context add --text {bad}",
        '%lfw context add --text "fine" --name {bad}',
    ],
)
def test_a_lone_surrogate_is_one_line_and_stores_nothing(ip, scripted, capsys, cell):
    scripted.model("fake", words("ok"))
    run_ok(ip, f"%%lfw pipeline p\n{ONE_STEP}")
    ip.user_ns.update(bad="caf\ud800", bads=["fine", "caf\ud800"])
    before = table_counts(scripted.wb.store.path)
    seen = one_line(run_error(ip, cell, capsys))
    assert "lone surrogate" in seen
    assert table_counts(scripted.wb.store.path) == before


def test_a_lone_surrogate_in_a_jsx_cell_is_one_line_and_keeps_no_artifact(ip, scripted, capsys):
    capsys.readouterr()
    # Not in IPython's history: its own SQLite file cannot hold the cell either.
    result = ip.run_cell("%%lfw jsx\nexport default () => <b>caf\ud800</b>", store_history=False)
    assert not result.success
    seen = one_line(capsys.readouterr().out.strip())
    assert "PreviewRefused" in seen and "lone surrogate" in seen
    assert scripted.wb.store.list_artifacts() == []


def test_a_lone_surrogate_sent_to_a_chat_session_leaves_it_as_it_was(scripted):
    from lfwb.errors import BadInput

    scripted.model("fake", words("ok"))
    session = scripted.wb.chat("notes", model="fake")
    with pytest.raises(BadInput, match="lone surrogate"):
        session.send("caf\ud800")
    assert scripted.wb.store.list_chat_sessions(scripted.wb.project_id) == []
    assert session.send("Hi").text == "ok"  # the session is made again by its next turn
    assert [s["name"] for s in scripted.wb.store.list_chat_sessions(scripted.wb.project_id)] == ["notes"]


# -- export files ---------------------------------------------------------------------------


def two_artifacts(wb, second: str = "second.py") -> int:
    run = wb.store.add_run(wb.project_id, "generate", prompt="code", status="done")["id"]
    wb.store.add_artifact(wb.project_id, "print(1)\n", run_id=run, filename="first.py")
    wb.store.add_artifact(wb.project_id, "print(2)\n", run_id=run, filename=second)
    return run


def test_export_files_never_overwrites_a_file_without_force(ip, scripted, tmp_path, capsys):
    run = two_artifacts(scripted.wb)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "second.py").write_text("mine\n")
    seen = one_line(run_error(ip, f"%lfw export files {run} --to out", capsys))
    assert "already exists — add --force" in seen
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["second.py"]
    assert (tmp_path / "out" / "second.py").read_text() == "mine\n"
    run_ok(ip, f"%lfw export files {run} --to out --force")
    assert (tmp_path / "out" / "second.py").read_text() == "print(2)\n"


def test_a_name_over_255_bytes_writes_nothing_not_even_the_first_file(ip, scripted, tmp_path, capsys):
    run = two_artifacts(scripted.wb, "x" * 297 + ".py")
    seen = one_line(run_error(ip, f"%lfw export files {run} --to out", capsys))
    assert "over 255 bytes" in seen and "nothing was written" in seen
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_export_into_proc_self_is_one_line(ip, scripted, capsys):
    run = two_artifacts(scripted.wb)
    seen = one_line(run_error(ip, f"%lfw export files {run} --to /proc/self", capsys))
    assert "nothing was written" in seen
    assert not Path("/proc/self/first.py").exists()


# -- batches ------------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
def test_a_million_row_csv_is_read_as_a_stream(tmp_path):
    csv = tmp_path / "million.csv"
    with csv.open("w") as f:
        f.write("id,input\n")
        f.writelines(f"{i},a request number {i}\n" for i in range(1_000_000))
    code = textwrap.dedent(f"""
        import json, re, sys, threading
        sys.path.insert(0, {str(ROOT / "tests")!r})
        from fixtures.scripted import Scripted, words
        from lfwb.stops import Cancelled
        from lfwb.workbench import Workbench
        wb = Workbench({str(tmp_path / "lfwb.db")!r})
        Scripted(wb).model("fake", words("ok"))
        batch = wb.start_batch({ONE_STEP!r}, {str(csv)!r},
                               on_progress=lambda p: p.ended >= 3 and batch.cancel())
        rows = batch.result()
        # The process's peak resident memory (ru_maxrss would count the forking pytest too).
        peak = int(re.search(r"VmHWM:\\s*(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
        print(json.dumps({{"status": batch.status, "rows": len(rows), "peak": peak}}))
    """)
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["peak"] < 100 * 2**20, f"{out['peak'] / 2**20:.0f} MiB"
    assert out["rows"] < 10 and out["status"] == "cancelled"


def test_after_a_stop_the_table_is_the_runs_started_and_a_count_of_the_rest(ip, scripted, sigint, capsys):
    fake = scripted.model("fake", words("ok"))
    run_ok(ip, f"%%lfw pipeline p\n{ONE_STEP}")
    ip.user_ns["requests"] = [f"request {i}" for i in range(1000)]
    main = threading.main_thread().ident

    def stop_after_three() -> None:
        for _ in range(4000):
            if len(fake.asked) >= 3:
                signal.pthread_kill(main, signal.SIGINT)
                return
            threading.Event().wait(0.005)

    threading.Thread(target=stop_after_three).start()
    seen = run_error(ip, "%lfw run p --over requests", capsys)
    assert "not run" in seen.splitlines()[-1] and len(seen.splitlines()) < 30, seen[-3000:]


def test_a_long_batch_table_shows_its_first_and_last_runs_and_how_many_between(ip, scripted):
    scripted.model("fake", words("ok"))
    run_ok(ip, f"%%lfw pipeline p\n{ONE_STEP}")
    ip.user_ns["requests"] = [f"request {i}" for i in range(30)]
    table = run_ok(ip, "%lfw run p --over requests")
    assert len(table) == 30  # the data is whole; only what is shown is shortened
    text = table.as_text()
    assert "request 0" in text and "request 29" in text and "request 15" not in text
    assert "… 20 more rows …" in text and "20 more rows" in table._repr_html_()


@pytest.mark.parametrize(
    "content, says",
    [
        ('id,input\n1,"' + "x" * (128 * 1024 + 1) + '"\n', "line 2"),
        ('id,input\n1,"a login form\n2,a table\n', "not valid CSV"),
        ('id,input\n1,"a" form\n', "not valid CSV"),
    ],
)
def test_a_bad_csv_row_is_one_line_and_runs_nothing(ip, scripted, tmp_path, capsys, content, says):
    fake = scripted.model("fake", words("ok"))
    run_ok(ip, f"%%lfw pipeline p\n{ONE_STEP}")
    (tmp_path / "requests.csv").write_text(content)
    seen = one_line(run_error(ip, "%lfw run p --over requests.csv", capsys))
    assert says in seen and fake.asked == [] and scripted.wb.store.list_runs() == []


# -- chat ---------------------------------------------------------------------------------


def test_a_first_chat_message_refused_by_the_budget_leaves_no_session(ip, scripted, capsys):
    scripted.model("g", words("ok"), remote=True, source="gemini-2.5-pro")
    run_ok(ip, "%lfw budget session 0.000001")
    seen = run_error(ip, "%%lfw chat -m g --session notes --max-tokens 500\nHi", capsys)
    assert "Traceback" not in seen and "BudgetExceeded" in seen.splitlines()[-1]
    assert run_ok(ip, "%lfw chat sessions").as_text().startswith("no chat sessions yet")
    assert scripted.wb.store.list_runs() == []


def test_a_refused_message_to_a_new_session_keeps_the_old_one_under_its_name(ip, scripted, capsys):
    scripted.model("fake", words("ok"))
    scripted.model("g", words("ok"), remote=True, source="gemini-2.5-pro")
    run_ok(ip, "%%lfw chat -m fake --session notes\nHi")
    before = [(s["name"], s["model"], s["messages"]) for s in run_ok(ip, "%lfw chat sessions")]
    run_ok(ip, "%lfw budget session 0.000001")
    assert "BudgetExceeded" in run_error(ip, "%%lfw chat -m g --session notes --new --max-tokens 500\nHi", capsys)
    assert [(s["name"], s["model"], s["messages"]) for s in run_ok(ip, "%lfw chat sessions")] == before


def test_a_chat_cell_fills_names_from_the_notebook_like_every_other_cell(ip, scripted):
    fake = scripted.model("fake", words("ok"))
    ip.user_ns["who"] = "Ada"
    run_ok(ip, "%%lfw chat -m fake\nMy name is {who}; {{who}} stays; {missing} too.")
    assert fake.asked[0].messages[-1]["content"] == "My name is Ada; {who} stays; {missing} too."
