"""Cost, budgets, fallback chains and keys: Gemini through the fake API, a scripted local model."""

from __future__ import annotations

import json
import logging
import time
from types import SimpleNamespace

import pytest

from conftest import plain, run_error, run_ok
from fixtures.scripted import Stall, words
from gemini_server import TEST_KEY, Reply, register_fake
from lfwb.errors import GenerationError, Retryable
from lfwb.runtimes import Chunk, GenerationConfig, ModelConfig, RuntimeManager
from lfwb.runtimes.keys import redact, use_key
from lfwb.runtimes.pricing import Prices
from lfwb.runtimes.remote import RemoteRuntime
from lfwb.spending import usd
from lfwb.workbench import reset_workbench, workbench

pytestmark = pytest.mark.timeout(90)


def error_line(seen: str) -> str:
    """The one line an error shows (after the cell's emptied live output), without colours."""
    return plain(seen.strip().splitlines()[-1])


def key_prompt(monkeypatch, key: str = TEST_KEY) -> list[str]:
    prompts: list[str] = []
    monkeypatch.setattr("getpass.getpass", lambda prompt="": prompts.append(prompt) or key)
    return prompts


# -- prices ----------------------------------------------------------------------------------


def test_gemini_2_5_pro_prices_on_both_tiers():
    # Up to 200k prompt tokens: $1.25 in, $10 out per 1M; above: $2.50 and $15, output included.
    prices = Prices()
    assert prices.cost_usd("gemini-2.5-pro", 200_000, 1_000) == pytest.approx(0.25 + 0.01)
    assert prices.cost_usd("gemini-2.5-pro", 200_001, 1_000) == pytest.approx(200_001 * 2.5e-6 + 0.015)
    assert prices.cost_usd("models/gemini-2.5-pro-preview-06-05", 10, 10) == prices.cost_usd("gemini-2.5-pro", 10, 10)
    assert prices.cost_usd("gemini-2.5-flash", 1_000_000, 1_000_000) == pytest.approx(0.30 + 2.50)
    assert prices.cost_usd("llama3.1:8b", 1000, 1000) is None  # not in the table: a self-hosted model


def test_a_price_file_that_cannot_be_read_is_refused_by_config_and_the_table_in_use_stays(ip, wb, tmp_path, caplog):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"my-model": {"input": 1.0, "output": 2.0}}))
    run_ok(ip, f"%config Lfwb.prices_path = {str(prices)!r}")
    with caplog.at_level(logging.ERROR):  # IPython's %config reports a refused value as a log line
        run_ok(ip, f"%config Lfwb.prices_path = {str(tmp_path / 'gone.json')!r}")
    assert "Lfwb.prices_path: no price table at" in caplog.text
    assert wb.manager.settings.prices.cost_usd("my-model", 1_000_000, 0) == 1.0


def test_a_long_prompt_run_is_billed_at_the_upper_tier(wb, fake_gemini):
    fake_gemini.default = Reply(prompt_tokens=250_000, thoughts=100)
    register_fake(wb, fake_gemini)
    result = wb.generate("Summarise the attached corpus.", model="g", max_tokens=1000)
    assert wb.store.get_run(result.run_id)["cost_usd"] == pytest.approx((250_000 * 2.5 + 114 * 15) / 1e6)


def test_a_price_file_set_with_config_overrides_the_table(ip, wb, fake_gemini, tmp_path, capsys):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gemini-2.5-pro": {"input": 100.0, "output": 1000.0}}))
    run_ok(ip, f"%config Lfwb.prices_path = {str(prices)!r}")
    register_fake(wb, fake_gemini)
    result = wb.generate("Hi", model="g", max_tokens=50)
    assert wb.store.get_run(result.run_id)["cost_usd"] == pytest.approx((12 * 100 + 14 * 1000) / 1e6)
    prices.write_text("{not json")
    seen = error_line(run_error(ip, "%%lfw generate -m g --max-tokens 50\nHi", capsys))
    assert seen.startswith(f"BadInput: the price table {prices} is not valid JSON")


# -- budgets ---------------------------------------------------------------------------------


def test_a_call_that_could_pass_the_project_budget_is_refused_before_it_is_sent(ip, wb, fake_gemini, capsys):
    register_fake(wb, fake_gemini)
    status = run_ok(ip, "%lfw budget project 0.01")
    assert status["project_budget_usd"] == 0.01 and status["project_spent_usd"] == 0
    # Worst case: 2,000 output tokens at $10 per 1M is $0.02 before the prompt is even counted.
    seen = error_line(run_error(ip, "%%lfw generate -m g --max-tokens 2000\nWrite an essay.", capsys))
    assert fake_gemini.requests == []  # the server saw nothing
    assert seen.startswith("BudgetExceeded: g could cost up to $0.02")
    assert "project 'default' has spent $0.00 of its $0.01 budget" in seen
    result = run_ok(ip, "%%lfw generate -m g --max-tokens 500\nWrite an essay.")  # $0.005 at worst: fits
    assert result.status == "done" and len(fake_gemini.requests) == 1
    spent = wb.store.get_run(result.run_id)["cost_usd"]
    assert spent > 0 and run_ok(ip, "%lfw budget")["project_spent_usd"] == pytest.approx(spent)
    # What was spent counts: with $0.004 left, a call that could cost over $0.005 is refused.
    run_ok(ip, f"%lfw budget project {spent + 0.004}")
    seen = error_line(run_error(ip, "%%lfw generate -m g --max-tokens 500\nAgain.", capsys))
    assert f"has spent {usd(spent)} of its {usd(spent + 0.004)}" in seen and len(fake_gemini.requests) == 1
    run_ok(ip, "%lfw budget project off")
    assert run_ok(ip, "%%lfw generate -m g --max-tokens 2000\nNow.").status == "done"


def test_project_budgets_are_kept_in_the_store(ip, wb, db_path):
    run_ok(ip, "%lfw budget project 2.5")
    reset_workbench()
    assert run_ok(ip, "%lfw budget")["project_budget_usd"] == 2.5


def test_a_session_budget_set_with_config_refuses_the_call(ip, wb, fake_gemini, capsys):
    register_fake(wb, fake_gemini)
    run_ok(ip, "%config Lfwb.session_budget_usd = 0.001")
    seen = error_line(run_error(ip, "%%lfw generate -m g --max-tokens 500\nHi", capsys))
    assert "this session has spent $0.00 of its $0.001 budget" in seen and fake_gemini.requests == []
    assert "%lfw budget session" in seen  # says how to raise it
    run_ok(ip, "%lfw budget session 1")
    run_ok(ip, "%%lfw generate -m g --max-tokens 500\nHi")
    assert run_ok(ip, "%lfw budget")["session_spent_usd"] > 0


def test_local_models_cost_nothing_and_pass_any_budget(ip, scripted):
    scripted.model("local", ["Hi"])
    run_ok(ip, "%lfw budget project 0")
    result = run_ok(ip, "%%lfw generate -m local --max-tokens 2000\nHi")
    assert result.status == "done" and scripted.wb.store.get_run(result.run_id)["cost_usd"] == 0


def test_cost_sums_by_model_project_and_day(ip, wb, fake_gemini, scripted):
    scripted.model("local", ["Hi"])
    register_fake(wb, fake_gemini)
    fake_gemini.default = Reply(prompt_tokens=1000, thoughts=50)
    one = (1000 * 1.25 + 64 * 10) / 1e6
    run_ok(ip, "%%lfw generate -m g --max-tokens 100\nA")
    run_ok(ip, "%%lfw generate -m g --max-tokens 100\nB")
    run_ok(ip, "%%lfw generate -m local\nC")  # free
    run_ok(ip, "%lfw project other")
    run_ok(ip, "%%lfw generate -m g --max-tokens 100\nD")
    by_model = {r["model"]: r for r in run_ok(ip, "%lfw cost --by model")}
    assert set(by_model) == {"g"} and by_model["g"]["cost_usd"] == pytest.approx(one)
    by_model = {r["model"]: r for r in run_ok(ip, "%lfw cost --by model --all")}
    assert by_model["g"]["runs"] == 3 and by_model["g"]["cost_usd"] == pytest.approx(3 * one)
    assert by_model["g"]["thinking_tokens"] == 150 and by_model["local"]["cost_usd"] == 0
    by_project = {r["project"]: r["cost_usd"] for r in run_ok(ip, "%lfw cost --by project")}
    assert by_project == {"default": pytest.approx(2 * one), "other": pytest.approx(one)}
    days = run_ok(ip, "%lfw cost --by day --all")
    assert len(days) == 1 and days[0]["day"] == time.strftime("%Y-%m-%d", time.gmtime())
    summary = run_ok(ip, "%lfw cost")
    assert summary["project"] == "other" and summary["project_spent_usd"] == pytest.approx(one)
    assert summary["all_projects_usd"] == pytest.approx(3 * one)
    assert summary["session_spent_usd"] == pytest.approx(3 * one)


def test_what_a_remote_model_reports_in_its_last_chunk_is_what_the_run_costs(ip, scripted, capsys):
    usage = {"input_tokens": 12, "output_tokens": 2, "thinking_tokens": 5}
    pro = scripted.model(
        "pro",
        ["Hi", Chunk(text="!", output_tokens=1, usage=usage, cost_usd=0.0123)],
        remote=True,
        source="gemini-2.5-pro",
    )
    run_ok(ip, "%lfw budget project 0.001")  # 500 tokens at $10 per 1M could cost $0.005
    seen = error_line(run_error(ip, "%%lfw generate -m pro --max-tokens 500\nHi", capsys))
    assert seen.startswith("BudgetExceeded: pro could cost up to") and pro.asked == []  # never asked
    run_ok(ip, "%lfw budget project off")
    result = run_ok(ip, "%%lfw generate -m pro --max-tokens 500\nHi")
    row = scripted.wb.store.get_run(result.run_id)
    assert (row["output"], row["cost_usd"], row["input_tokens"], row["output_tokens"]) == ("Hi!", 0.0123, 12, 2)
    assert json.loads(row["usage_json"])["thinking_tokens"] == 5
    assert run_ok(ip, "%lfw budget")["session_spent_usd"] == pytest.approx(0.0123)
    direct = scripted.manager.generate("pro", GenerationConfig(prompt="Hi"))  # the manager counts alike
    assert (direct.text, direct.cost_usd, direct.input_tokens, direct.output_tokens) == ("Hi!", 0.0123, 12, 2)


# -- fallback chains -------------------------------------------------------------------------


def test_a_failing_gemini_falls_back_to_the_local_model_and_says_why(ip, wb, fake_gemini, published, scripted):
    local = scripted.model("local", ["Hi!"])
    fake_gemini.default = Reply(kind="error", status=503)
    register_fake(wb, fake_gemini, max_attempts=2)
    run_ok(ip, "%lfw alias best = g, local")
    result = run_ok(ip, "%%lfw generate -m best --max-tokens 4\nSay hi.")
    assert result.answered_by == "local" and result.text == "Hi!" and len(fake_gemini.requests) == 2
    assert local.asked[0].max_tokens == 4  # the same request, sent on
    row = wb.store.get_run(result.run_id)
    assert (row["status"], row["model"], row["answered_by"]) == ("done", "best", "local")
    [skipped] = json.loads(row["skipped_json"])
    assert skipped["model"] == "g" and "503 UNAVAILABLE" in skipped["reason"]
    assert "gave up after 2 attempts" in skipped["reason"]
    note = published[-1]["data"]["text/html"]
    assert "answered by local; skipped g: GenerationError: g: server error (503 UNAVAILABLE" in note


def test_max_attempts_set_with_config_reaches_the_remote_models_already_registered(ip, wb, fake_gemini):
    fake_gemini.default = Reply(kind="error", status=503)
    register_fake(wb, fake_gemini)
    run_ok(ip, "%config Lfwb.max_attempts = 2")
    assert run_ok(ip, "%lfw info g")["max_attempts"] == 2
    with pytest.raises(GenerationError, match="gave up after 2 attempts"):
        wb.generate("Hi", model="g")
    assert len(fake_gemini.requests) == 2


def test_a_link_without_a_key_or_over_budget_is_skipped(ip, wb, fake_gemini, scripted):
    scripted.model("local", ["Hi!"])
    register_fake(wb, fake_gemini)
    run_ok(ip, "%lfw alias best = gemini-2.5-pro, g, local")  # no Gemini key: not registered yet
    run_ok(ip, "%lfw budget project 0.000001")
    result = run_ok(ip, "%%lfw generate -m best --max-tokens 3\nSay hi.")
    assert result.answered_by == "local" and fake_gemini.requests == []
    first, second = json.loads(wb.store.get_run(result.run_id)["skipped_json"])
    assert first == {
        "model": "gemini-2.5-pro",
        "reason": "MissingCredentials: gemini-2.5-pro needs a Gemini API key — set GEMINI_API_KEY or GOOGLE_API_KEY",
    }
    assert second["model"] == "g" and second["reason"].startswith("BudgetExceeded: g could cost up to")


def test_aliases_are_kept_in_the_store(ip, wb):
    run_ok(ip, "%lfw alias quick = smollm2")
    reset_workbench()
    assert workbench().manager.resolve("quick") == ["smollm2"]
    assert [r["alias"] for r in run_ok(ip, "%lfw alias")] == ["quick"]
    run_ok(ip, "%lfw alias quick --delete")
    reset_workbench()
    assert "quick" not in workbench().manager.aliases


def test_an_alias_of_an_unknown_model_is_refused(ip, capsys):
    seen = run_error(ip, "%lfw alias best = gemni-2.5-pro, smollm2", capsys)
    assert "no model named 'gemni-2.5-pro'" in seen


# -- keys and the cell -----------------------------------------------------------------------


def test_gemini_streams_into_the_cell_exactly_as_a_local_model(ip, wb, fake_gemini, published, monkeypatch, scripted):
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake_gemini.url)  # the SDK's own override
    prompts = key_prompt(monkeypatch)
    run_ok(ip, "%lfw key gemini")
    assert "hidden" in prompts[0] and "gemini-2.5-pro" in wb.manager
    fake_gemini.default = Reply(text=" ".join(["word"] * 30), delay_s=0.06)

    def shape(result, messages):
        assert len({m["display_id"] for m in messages}) == 1 and messages[0]["display_id"]
        assert [m["update"] for m in messages] == [False] + [True] * (len(messages) - 1)
        texts = [m["data"]["text/plain"] for m in messages[1:-1] if m["data"]["text/plain"]]
        assert len(texts) >= 2 and all(b.startswith(a) for a, b in zip(texts, texts[1:]))
        final = messages[-1]
        assert final["data"]["text/plain"] == result.text == wb.store.get_run(result.run_id)["output"]
        assert all(m["metadata"]["lfwb"]["run_id"] == result.run_id for m in messages)

    remote = run_ok(ip, "%%lfw generate -m gemini-2.5-pro --max-tokens 100\nSay word thirty times.")
    shape(remote, list(published))
    assert remote.answered_by == "gemini-2.5-pro" and fake_gemini.requests[-1]["key_ok"]
    published.clear()
    # A local model writing at a pace the live output shows (it updates at most every 50 ms).
    story = words("Once upon a time a lighthouse keeper lived with his cat by the sea")
    scripted.model("local", [step for word in story for step in (word, Stall(seconds=0.03))])
    local = run_ok(ip, "%%lfw generate -m local --max-tokens 20\nTell a story.")
    shape(local, list(published))


def test_the_key_never_reaches_the_store_outputs_logs_or_errors(
    ip, wb, fake_gemini, published, monkeypatch, capsys, caplog, db_path
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", fake_gemini.url)
    key_prompt(monkeypatch)
    run_ok(ip, "%lfw key gemini")
    run_ok(ip, "%%lfw generate -m gemini-2.5-pro --max-tokens 50\nHi")
    fake_gemini.script(Reply(kind="error", status=429), *[Reply(kind="error", status=500)] * 3)
    run_error(ip, "%%lfw generate -m gemini-2.5-pro --max-tokens 50\nHi", capsys)
    fake_gemini.script(Reply(kind="error", status=400, message=f"API key {TEST_KEY} not valid."))
    seen = run_error(ip, "%%lfw generate -m gemini-2.5-pro --max-tokens 50\nHi", capsys)
    assert "API key *** not valid." in seen  # a server that echoes the key back is scrubbed
    run_ok(ip, "%lfw error")
    monkeypatch.setenv("LFWB_KEY_ENV", TEST_KEY)
    run_ok(
        ip,
        f"%lfw register other --runtime gemini --source gemini-2.5-flash --api-key-env LFWB_KEY_ENV "
        f"--base-url {fake_gemini.url}",
    )
    run_ok(ip, "%%lfw generate -m other --max-tokens 50\nHi")
    for line in (
        "%lfw info gemini-2.5-pro",
        "%lfw info other",
        "%lfw models",
        "%lfw runs",
        "%lfw show 1",
        "%lfw health",
        "%lfw cost --by model",
        "%lfw budget",
    ):
        run_ok(ip, line)
    shown = repr(wb.manager.runtime("gemini-2.5-pro").__dict__) + repr(wb.manager.info("other"))
    assert all(r["key_ok"] for r in fake_gemini.requests)  # the key was used...
    wb.store.close()
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    out = capsys.readouterr()
    everything = json.dumps([m["data"] for m in published]) + out.out + out.err + caplog.text + shown
    assert TEST_KEY.encode() not in stored and TEST_KEY not in everything  # ...and never shown or kept
    assert "gemini-2.5-pro" in everything and len(stored) > 0


def test_a_key_pasted_where_a_variable_name_belongs_is_refused_without_echo(ip, capsys):
    seen = run_error(
        ip,
        f"%lfw register x --runtime openai_compat --source m --base-url http://127.0.0.1:1/v1 "
        f"--api-key-env sk-{TEST_KEY}",
        capsys,
    )
    assert "NAME of an environment variable" in seen and TEST_KEY not in seen


class ZetaRuntime(RemoteRuntime):
    """A third provider, declared the way a new backend module declares one."""

    runtime_name, provider, key_label = "zeta", "zeta", "Zeta"
    key_env_vars, default_models = ("ZETA_API_KEY",), ("zeta-1",)
    failures: list[Exception] = []  # what the next sends raise, in order

    def make_client(self, key):
        return SimpleNamespace(close=lambda: None)  # stands in for an SDK client

    def send(self, request, gen):
        if self.failures:
            raise self.failures.pop(0)
        return iter([("Hello", None), (" from", None), (" Zeta", "stop")])

    def read(self, event, attempt):
        text, attempt.finish = event  # the last event says the answer is whole
        return Chunk(text=text, output_tokens=1)

    def map_error(self, e):
        if isinstance(e, ConnectionResetError):
            return Retryable(f"the connection dropped ({e})")
        return GenerationError(str(e))


def test_a_new_backends_provider_takes_its_key_and_registers_its_models(ip, wb, monkeypatch, capsys):
    monkeypatch.delenv("ZETA_API_KEY", raising=False)
    wb.manager.add_backend(ZetaRuntime)
    seen = error_line(run_error(ip, "%%lfw generate -m zeta-1\nHi", capsys))
    assert seen == "MissingCredentials: zeta-1 needs a Zeta API key — set ZETA_API_KEY. Or run %lfw key zeta."
    seen = error_line(run_error(ip, "%lfw key zeta-2", capsys))
    assert seen.startswith("BadInput: no provider or model named 'zeta-2' — providers: gemini, zeta")
    key_prompt(monkeypatch)
    run_ok(ip, "%lfw key zeta")
    result = run_ok(ip, "%%lfw generate -m zeta-1\nHi")
    assert (result.text, result.answered_by) == ("Hello from Zeta", "zeta-1")


def test_a_session_key_serves_the_manager_it_was_given_to_and_no_other(wb, monkeypatch):
    monkeypatch.delenv("ZETA_API_KEY", raising=False)
    other = RuntimeManager(register_default=False)
    for manager in (wb.manager, other):
        manager.add_backend(ZetaRuntime)
    assert use_key(wb.manager, "zeta", "zeta-key-long-enough") == ["zeta-1"]
    assert "zeta-1" in wb.manager and other.register_defaults() == [] and "zeta-1" not in other
    assert wb.generate("Hi", model="zeta-1").text == "Hello from Zeta"
    assert redact("sent zeta-key-long-enough") == "sent ***"  # scrubbed from messages from now on


def test_a_new_backend_is_retried_by_the_shared_loop_only_when_its_error_says_so(wb, monkeypatch):
    monkeypatch.setenv("ZETA_API_KEY", "zeta-key-long-enough")
    monkeypatch.setattr(ZetaRuntime, "failures", [ConnectionResetError("reset by peer")])
    wb.manager.add_backend(ZetaRuntime)
    wb.manager.register(ModelConfig(name="z", source="zeta-1", runtime="zeta", options={"retry_base_s": 0.01}))
    assert wb.generate("Hi", model="z").text == "Hello from Zeta" and ZetaRuntime.failures == []
    ZetaRuntime.failures.extend([ValueError("bad request"), ConnectionResetError("never reached")])
    with pytest.raises(GenerationError, match=r"^z: bad request$"):
        wb.generate("Hi", model="z")
    assert len(ZetaRuntime.failures) == 1  # a plain GenerationError is not retried
