"""Evals: a dataset through several models, every answer scored by checks, under one parent run.

Most tests run on the scripted backend (tests/fixtures/scripted.py): local scripted models take
turns in one lane, so their calls follow the rows in order and a script per call (`answers=`)
gives each row its answer. tests/test_evals_smollm2.py goes end to end on the bundled SmolLM2.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading

import pytest

from conftest import eventually, plain, refused_in_one_line, run_error, run_ok, table_counts
from fixtures.scripted import Stall
from server_fixtures import read_sse

LABELS = ["positive" if i % 4 else "negative" for i in range(20)]  # 15 positive, 5 negative
ROWS = [{"input": f"review number {i}", "expected": label} for i, label in enumerate(LABELS)]
PASS = '{"verdict": "pass", "reason": "names a sentiment"}'

SENTIMENT = """
prompt: "Is this review positive or negative? One word.\\n\\n{input}"
max_tokens: 8
checks:
  - contains
  - regex: "^(positive|negative)$"
  - judge: judge
    rubric: The answer names the review's sentiment.
"""


def flip(label: str) -> str:
    return "negative" if label == "positive" else "positive"


@pytest.fixture
def models(scripted):
    """Three models: `right` answers every row right in the first eval, and wrong on rows 0-3
    in the second; `always` says "positive" (local); `remote` says "Positive!" (remote, at once)."""
    first = [[label] for label in LABELS]
    second = [[flip(label) if i < 4 else label] for i, label in enumerate(LABELS)]
    return {
        "right": scripted.model("right", [], answers=first + second),
        "always": scripted.model("always", ["positive"]),
        "remote": scripted.model("remote", ["Positive!"], remote=True),
        "judge": scripted.model("judge", [PASS]),
    }


def test_three_models_twenty_rows_three_checks_give_the_right_table_and_reopen(ip, models):
    ip.user_ns["rows"] = ROWS
    run_ok(ip, f"%%lfw eval sentiment\n{SENTIMENT}")
    report = run_ok(ip, "%lfw eval sentiment --models right,always,remote --over rows")

    table = {row["model"]: row for row in report.table()}
    assert [(m, table[m]["contains"], table[m]["regex"], table[m]["judge"], table[m]["answers"]) for m in table] == [
        ("right", "100%", "100%", "100%", 20),
        ("always", "75%", "100%", "100%", 20),
        ("remote", "75%", "0%", "100%", 20),
    ]
    assert report.best == "right" and report.status == "done"
    # Every answer and every judge's verdict is a run under the eval's run.
    store = report_store(ip)
    children = store.query("SELECT kind, model FROM runs WHERE parent_id = ?", (report.run_id,))
    assert len(children) == 60 + 60 and {c["kind"] for c in children} == {"generate"}
    assert store.get_run(report.run_id)["kind"] == "eval"
    # The judge read the rubric and the answer it judged.
    assert "The answer names the review's sentiment." in models["judge"].asked[0].messages[-1]["content"]
    # The failing answers, with why.
    failed = report.failures(model="always", check="contains")
    assert [f["row"] for f in failed] == [1, 5, 9, 13, 17] and failed[0]["why"] == "does not contain 'negative'"

    reopened = run_ok(ip, f"%lfw eval show {report.run_id}")
    assert reopened.table() == report.table() and reopened.failures() == report.failures()


def report_store(ip):
    from lfwb.workbench import workbench

    return workbench().store


def test_a_second_eval_after_a_prompt_change_says_what_got_better_and_what_regressed(ip, models):
    ip.user_ns["rows"] = ROWS
    run_ok(ip, f"%%lfw eval sentiment\n{SENTIMENT}")
    first = run_ok(ip, "%lfw eval sentiment --models right,always --over rows")
    changed = SENTIMENT.replace("One word.", "Answer with one lowercase word.")
    run_ok(ip, f"%%lfw eval sentiment\n{changed}")
    second = run_ok(ip, f"%lfw eval sentiment --models right,always --over rows --against {first.run_id}")

    assert "lowercase" in models["right"].asked[-1].messages[-1]["content"]
    changes = second.changes
    assert changes.better == [] and [(r["model"], r["check"], r["input"]) for r in changes.regressed] == [
        ("right", "contains", f"review number {i}") for i in range(4)
    ]
    rates = {(r["model"], r["check"]): (r["before"], r["now"], r["change"]) for r in changes.rates}
    assert rates[("right", "contains")] == ("100%", "80%", "-20%") and rates[("always", "contains")][2] == "="
    # The same comparison when reopened, and in the text a terminal shows.
    again = run_ok(ip, f"%lfw eval show {second.run_id} --against {first.run_id}")
    assert again.changes.regressed == changes.regressed
    assert "0 better, 4 regressed" in again.as_text()


BAD = {
    "an unknown check": ("prompt: '{input}'\nchecks:\n  - containz: x\n", "'containz' is not a check"),
    "bad YAML": ("prompt: '{input}\nchecks: [contains\n", "not valid YAML"),
    "no checks": ("prompt: '{input}'\n", "`checks:` must be a list"),
    "a judge without a rubric": ("prompt: '{input}'\nchecks:\n  - judge: judge\n", "needs a `rubric:`"),
    "a regex that does not compile": ("prompt: '{input}'\nchecks:\n  - regex: '(a'\n", "does not compile"),
}


@pytest.mark.parametrize("case", BAD)
def test_a_bad_definition_is_one_line_and_saves_nothing(ip, models, capsys, caplog, db_path, case):
    body, says = BAD[case]
    before = table_counts(str(db_path))
    seen = refused_in_one_line(ip, f"%%lfw eval broken\n{body}", capsys, caplog)
    assert says in seen and "eval 'broken'" in seen
    assert table_counts(str(db_path)) == before


RUN_FAULTS = {
    "a missing column": ("%lfw eval e --models right --over unlabelled", "reads the column `expected`"),
    "an unknown model": ("%lfw eval e --models right,nope --over rows", "nope"),
    "no rows": ("%lfw eval e --models right --over missing.csv", "no file at"),
    "an unknown function": ("%lfw eval f --models right --over rows", "no function named 'nowhere'"),
    "an unknown eval": ("%lfw eval nothing --models right --over rows", "no eval named 'nothing'"),
}


@pytest.mark.parametrize("case", RUN_FAULTS)
def test_a_run_that_cannot_go_is_one_line_and_stores_nothing(ip, models, capsys, caplog, db_path, case):
    ip.user_ns["rows"] = ROWS
    ip.user_ns["unlabelled"] = [{"input": "no label here"}]
    run_ok(ip, f"%%lfw eval e\n{SENTIMENT}")
    run_ok(ip, "%%lfw eval f\nprompt: '{input}'\nchecks:\n  - python: nowhere\n")
    before = table_counts(str(db_path))
    line, says = RUN_FAULTS[case]
    assert says in refused_in_one_line(ip, line, capsys, caplog)
    assert table_counts(str(db_path)) == before


def test_every_kind_of_check_scores_an_answer(wb, scripted):
    """contains, equals, regex with a column, json-schema, jsx, a notebook function (with its
    reason, and one that raises), each on answers that pass and fail."""
    scripted.model("json", ['{"name": "Ada", "age": 36}'])
    scripted.model("jsx", ["```jsx\nexport default function Card() { return <div>Hi</div>; }\n```"])
    definition = {
        "prompt": "{input}",
        "checks": [
            {"equals": "{expected}"},
            {"regex": '^\\{"name": "{who}"', "name": "starts"},
            {"json-schema": "Person"},
            "jsx",
            {"python": "short"},
            {"python": "broken"},
        ],
    }
    person = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
        "required": ["name"],
    }

    def short(answer, row):
        return len(answer) < 40, f"{len(answer)} characters"

    def broken(answer, row):
        raise ValueError("no idea")

    namespace = {"Person": person, "short": short, "broken": broken}
    wb.save_eval(definition, "kinds")
    rows = [{"input": "who?", "expected": '{"name": "Ada", "age": 36}', "who": "Ada"}]
    report = wb.run_eval("kinds", ["json", "jsx"], rows, namespace=namespace)
    verdicts = {a.model: {k: v.passed for k, v in a.verdicts.items()} for a in report.answers}
    assert verdicts == {
        "json": {"equals": True, "starts": True, "json-schema": True, "jsx": False, "short": True, "broken": False},
        "jsx": {"equals": False, "starts": False, "json-schema": False, "jsx": True, "short": False, "broken": False},
    }
    why = {(f["model"], f["check"]): f["why"] for f in report.failures()}
    assert why[("json", "broken")] == "ValueError: no idea" and why[("jsx", "short")].endswith("characters")


def test_a_pipeline_eval_runs_the_pipeline_on_each_model_under_the_eval(wb, scripted):
    scripted.model("a", ["done: positive"])
    scripted.model("b", ["done: negative"])
    wb.save_pipeline(
        "steps:\n  - {name: draft, model: a, prompt: 'Draft {input}'}\n"
        "  - {name: final, model: a, prompt: 'Polish {steps.draft.output}'}\n",
        name="two",
    )
    wb.save_eval("pipeline: two\nchecks:\n  - contains: positive\n", "piped")
    report = wb.run_eval("piped", ["a", "b"], ["x", "y"])
    assert report.pass_rates == {"a": {"contains": 1.0}, "b": {"contains": 0.0}}
    runs = wb.store.query("SELECT kind, model FROM runs WHERE parent_id = ? ORDER BY id", (report.run_id,))
    assert [r["kind"] for r in runs] == ["pipeline"] * 4
    steps = wb.store.query(
        "SELECT s.model FROM steps s JOIN runs r ON r.id = s.run_id WHERE r.parent_id = ? ORDER BY s.id",
        (report.run_id,),
    )
    assert [s["model"] for s in steps] == ["a"] * 4 + ["b"] * 4  # every step on the model scored


def test_a_judge_that_answers_out_of_shape_fails_the_check_saying_why(wb, scripted):
    scripted.model("m", ["fine"])
    scripted.model("rambler", ["I think it is good"])
    wb.save_eval({"prompt": "{input}", "checks": [{"judge": "rambler", "rubric": "is good"}]}, "j")
    report = wb.run_eval("j", ["m"], ["x"])
    (answer,) = report.answers
    assert not answer.verdicts["judge"].passed and "the judge failed" in answer.verdicts["judge"].reason
    assert answer.verdicts["judge"].judge_run_id is not None


def test_a_cancelled_eval_keeps_what_was_scored_and_ends_cancelled(wb, scripted):
    stall = Stall()
    scripted.model("quick", ["positive"])
    scripted.model("stuck", ["pos", stall, "itive"])
    wb.save_eval({"prompt": "{input}", "checks": [{"contains": "positive"}]}, "c")
    handle = wb.start_eval("c", ["quick", "stuck"], ["a", "b"]).start()
    assert stall.reached.wait(10)
    handle.cancel()
    report = handle.result()
    assert report.status == "cancelled" and handle.status == "cancelled"
    assert [(a.model, a.row) for a in report.answers] == [("quick", 0), ("quick", 1)]
    assert wb.store.get_run(report.run_id)["status"] == "cancelled"


def test_an_eval_over_http_starts_reports_and_refuses_bad_input_with_no_row(server, scripted):
    scripted.model("right", ["positive"])
    scripted.model("judge", [PASS])
    api = "/api/v1"
    started = server.http.post(
        f"{api}/evals",
        json={"name": "s", "definition": SENTIMENT, "models": ["right"], "rows": ROWS[:4], "settings": {"seed": 1}},
    )
    assert started.status_code == 202
    run_id = started.json()["run_id"]
    report = _finished(server, f"{api}/evals/{run_id}")
    assert [(r["model"], r["contains"]) for r in report["table"]] == [("right", "75%")]
    assert [f["row"] for f in report["failures"]] == [1]
    assert [e["name"] for e in server.http.get(f"{api}/evals").json()] == ["s"]

    runs_before = server.http.get(f"{api}/runs").json()["items"]
    bad = server.http.post(
        f"{api}/evals", json={"name": "t", "definition": "prompt: x\nchecks: [nope]\n", "rows": ["a"]}
    )
    assert bad.status_code == 400 and "'nope' is not a check" in bad.json()["line"]
    missing = server.http.post(f"{api}/evals", json={"name": "s", "models": ["right"], "rows": ["no label"]})
    assert missing.status_code == 400 and "`expected`" in missing.json()["line"]
    unknown = server.http.post(f"{api}/evals", json={"name": "u", "definition": SENTIMENT, "models": ["nope"]})
    assert unknown.status_code == 404 and "nope" in unknown.json()["line"]  # and `u` is not saved
    assert server.http.get(f"{api}/runs").json()["items"] == runs_before
    assert [e["name"] for e in server.http.get(f"{api}/evals").json()] == ["s"]


def test_an_eval_over_http_is_followed_and_cancelled_through_the_runs_routes_too(server, scripted):
    stall = Stall()
    scripted.model("stuck", ["pos", stall, "itive"])
    definition = "prompt: '{input}'\nchecks:\n  - contains: positive\n"
    api = "/api/v1"
    run_id = server.http.post(
        f"{api}/evals", json={"name": "c", "definition": definition, "models": ["stuck"], "rows": ["a", "b"]}
    ).json()["run_id"]
    assert stall.reached.wait(10)
    assert server.http.post(f"{api}/runs/{run_id}/cancel").json()["status"] == "cancelled"
    with server.http.stream("GET", f"{api}/runs/{run_id}/events") as r:
        events = read_sse(r)
    assert events[0][1]["kind"] == "eval" and events[-1][1]["status"] == "cancelled"
    report = server.http.get(f"{api}/evals/{run_id}").json()
    assert report["status"] == "cancelled" and report["table"][0]["answers"] == 0


def _finished(server, url: str) -> dict:
    return eventually(lambda: (r := server.http.get(url).json())["status"] != "running" and r, what="the eval to end")


def test_the_report_draws_a_chart_that_loads_nothing_and_escapes_answers(wb, scripted):
    scripted.model("evil", ['<img src="http://example.com/x.png">'])
    wb.save_eval({"prompt": "{input}", "checks": [{"contains": "safe"}]}, "h")
    html = wb.run_eval("h", ["evil"], ["x"])._repr_html_()
    assert 'src="data:image/png;base64,' in html and "http://example.com" in html
    assert '<img src="http://example.com' not in html  # the answer is text, not an image
    params = json.loads(
        wb.store.get_run(wb.store.query("SELECT max(id) AS id FROM runs WHERE kind = 'eval'")[0]["id"])["params_json"]
    )
    assert params["models"] == ["evil"] and params["rows"] == [{"input": "x"}]


def test_a_stop_in_the_cell_cancels_the_answers_shows_what_was_scored_and_says_so(ip, scripted, sigint, capsys):
    stall = Stall()
    scripted.model("quick", ["positive"])
    stuck = scripted.model("stuck", ["pos", stall, "itive"])
    run_ok(ip, "%%lfw eval c\nprompt: '{input}'\nchecks:\n  - contains: positive\n")
    ip.user_ns["rows"] = ["a", "b"]
    main = threading.main_thread().ident
    threading.Thread(target=lambda: stall.reached.wait(10) and signal.pthread_kill(main, signal.SIGINT)).start()

    seen = run_error(ip, "%lfw eval c --models quick,stuck --over rows", capsys)
    assert (
        plain(seen).splitlines()[-1]
        == f"eval cancelled (run {scripted.wb.store.list_runs(kind='eval')[0]['id']}): 2 of 4 answers scored"
    )
    [eval_run] = scripted.wb.store.list_runs(kind="eval")
    assert eval_run["status"] == "cancelled" and stuck.log[-2:] == ["cancelled", "end"]
    report = scripted.wb.eval_report(eval_run["id"])
    assert [(a.model, a.row) for a in report.answers] == [("quick", 0), ("quick", 1)]
    assert not scripted.wb.store.query("SELECT id FROM runs WHERE status = 'running'")


def test_remote_models_are_asked_at_once_and_local_ones_in_turn(wb, scripted):
    release = threading.Event()
    remote = scripted.model("far", ["positive", Stall(until=release)], remote=True)
    local = scripted.model("near", ["positive"])
    wb.save_eval({"prompt": "{input}", "checks": [{"contains": "positive"}]}, "lanes")
    handle = wb.start_eval("lanes", ["far", "near"], ["a", "b", "c", "d", "e"]).start()
    # Four of the remote model's rows are in flight together, the fifth waits for a place.
    eventually(lambda: len(remote.asked) == 4, what="four remote answers at once")
    release.set()
    report = handle.result()
    assert len(remote.asked) == 5 and report.pass_rates == {"far": {"contains": 1.0}, "near": {"contains": 1.0}}
    assert local.log == ["load"] + ["start", "end"] * 5  # one after another


def test_an_eval_is_awaited_from_an_event_loop(wb, scripted):
    scripted.model("m", ["positive"])
    wb.save_eval({"prompt": "{input}", "checks": ["contains"]}, "a")
    report = asyncio.run(wb.arun_eval("a", ["m"], [{"input": "x", "expected": "Positive"}]))
    assert report.status == "done" and report.pass_rates == {"m": {"contains": 1.0}}


def test_an_eval_run_again_takes_its_answers_and_verdicts_from_the_cache_unless_told(ip, models):
    ip.user_ns["rows"] = ROWS[:5]
    run_ok(ip, f"%%lfw eval sentiment\n{SENTIMENT}\ntemperature: 0\n")
    first = run_ok(ip, "%lfw eval sentiment --models always,remote --over rows")
    asked = {name: len(script.asked) for name, script in models.items()}
    again = run_ok(ip, "%lfw eval sentiment --models always,remote --over rows")

    assert {name: len(script.asked) for name, script in models.items()} == asked  # no model was asked
    assert again.table() == first.table() and "10 answers from the cache" in again.summary()
    assert all(a.cached_from is not None for a in again.answers)
    fresh = run_ok(ip, "%lfw eval sentiment --models always --over rows --no-cache")
    assert len(models["always"].asked) == asked["always"] + 5 and len(models["judge"].asked) == asked["judge"] + 5
    assert fresh.table()[0]["contains"] == first.table()[0]["contains"]


def test_an_eval_runs_on_its_definitions_own_models_and_rows(ip, models):
    body = (
        "prompt: '{input}'\nmodels: [always]\ndataset:\n  - {input: 'a', expected: positive}\n"
        "  - {input: 'b', expected: negative}\nchecks: [contains]\n"
    )
    run_ok(ip, f"%%lfw eval own\n{body}")
    report = run_ok(ip, "%lfw eval own")
    assert report.models == ["always"] and report.pass_rates == {"always": {"contains": 0.5}}


HOSTILE = "<img src=x onerror=alert(1)>"


def elements(html: str) -> list[tuple[str, dict]]:
    """Every element the HTML makes, with its attributes, as a browser's parser would see them."""
    from html.parser import HTMLParser

    found: list[tuple[str, dict]] = []
    parser = HTMLParser()
    parser.handle_starttag = lambda tag, attrs: found.append((tag, dict(attrs)))  # type: ignore[method-assign]
    parser.feed(html)
    return found


def test_a_hostile_answer_and_judge_reason_are_text_in_the_table_the_failures_and_the_changes(wb, scripted):
    scripted.model("m", [], answers=[["positive"], [HOSTILE]])
    scripted.model("judge", ['{"verdict": "fail", "reason": "<script>alert(2)</script> it says ' + HOSTILE + '"}'])
    wb.save_eval({"prompt": "{input}", "checks": ["contains", {"judge": "judge", "rubric": "is kind"}]}, "h")
    rows = [{"input": "<i>x</i>", "expected": "positive"}]
    first = wb.run_eval("h", ["m"], rows, cache=False)
    second = wb.run_eval("h", ["m"], rows, cache=False, against=first.run_id)
    assert [(r["before"], r["now"]) for r in second.changes.regressed] == [("positive", HOSTILE)]

    html = second._repr_html_()
    made = elements(html)
    assert [attrs.get("class") for tag, attrs in made if tag == "img"] == ["lfwb-eval-chart"]  # the chart only
    assert not any(tag in ("script", "i") for tag, _ in made)
    assert not any(name.startswith("on") for _, attrs in made for name in attrs)
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;script&gt;alert(2)" in html


def test_a_pipeline_eval_answered_from_the_cache_shows_the_latency_of_the_run_that_answered(wb, scripted):
    a = scripted.model("a", ["done: positive"])
    wb.save_pipeline(
        "steps:\n  - {name: draft, model: a, prompt: 'Draft {input}', temperature: 0}\n"
        "  - {name: final, model: a, prompt: 'Polish {steps.draft.output}', temperature: 0}\n",
        name="two",
    )
    wb.save_eval("pipeline: two\nchecks:\n  - contains: positive\n", "piped")
    first = wb.run_eval("piped", ["a"], ["x", "y"])
    asked = len(a.asked)
    again = wb.run_eval("piped", ["a"], ["x", "y"])
    assert len(a.asked) == asked  # no model ran
    assert [x.cached_from for x in again.answers] == [x.run_id for x in first.answers]
    assert again.p50_ms("a") == first.p50_ms("a") and "2 answers from the cache" in again.summary()


def test_an_eval_cell_whose_run_is_refused_saves_no_definition(ip, models, capsys, caplog, db_path):
    ip.user_ns["rows"] = ROWS
    before = table_counts(str(db_path))
    line = f"%%lfw eval fresh --models right,nope --over rows\n{SENTIMENT}"
    assert "nope" in refused_in_one_line(ip, line, capsys, caplog)
    assert table_counts(str(db_path)) == before  # no eval row: the run was refused before the save
    run_ok(ip, f"%%lfw eval fresh --models right --over rows\n{SENTIMENT}")
    assert "saved fresh v1" in capsys.readouterr().out
