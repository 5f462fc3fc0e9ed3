"""%lfw models / register / load / unload / info / health / stats through a real IPython shell."""

from __future__ import annotations

import os

import pytest

from conftest import loaded, one_line, run_error, run_ok
from lfwb import Workbench
from lfwb.runtimes import default_model_path
from lfwb.runtimes.cpu import physical_cores

GGUF = default_model_path()


def test_models_lists_the_bundled_model(ip, wb):
    rows = run_ok(ip, "%lfw models")
    # Plain values in the rows; the table draws the marks.
    assert [(r["name"], r["runtime"], r["loaded"]) for r in rows] == [("smollm2", "llama_cpp", False)]
    assert "✓" not in rows.as_text()
    assert rows[0]["source"].endswith(".gguf") and "MiB" in rows[0]["memory"]
    assert "smollm2" in rows.as_text() and "<table" in rows._repr_html_()


def test_register_load_generate_unload(ip, wb):
    config = run_ok(ip, f"%lfw register mini --runtime llama_cpp --source {GGUF} --context-length 512 --threads 1")
    assert config["name"] == "mini" and config["context_length"] == 512 and config["threads"] == 1
    assert loaded(wb.manager) == set()  # registering loads nothing
    assert [r["name"] for r in run_ok(ip, "%lfw models")] == ["smollm2", "mini"]
    row = run_ok(ip, "%lfw load mini")
    assert row["loaded"] and row["load_s"] is not None and "MiB" in row["memory"]
    assert loaded(wb.manager) == {"mini"}
    result = run_ok(ip, "%%lfw generate -m mini --max-tokens 4 --temperature 0\nSay hi.")
    assert result.answered_by == "mini"
    run_ok(ip, "%lfw unload mini")
    assert loaded(wb.manager) == set()


def test_backend_options_reach_the_model_config(ip, wb):
    """Options other backends read (gguf_file, base_url, api_key_env, anything with --option)."""
    run_ok(
        ip,
        f"%lfw register opts --runtime llama_cpp --source {GGUF} --gguf-file x.gguf "
        "--base-url http://127.0.0.1:9/v1 --api-key-env MY_KEY --memory-gb 0.5 "
        "--option n_gpu_layers=0 --option note=hello --device cpu --dtype float32",
    )
    config = wb.manager.config("opts")
    assert config.options == {
        "gguf_file": "x.gguf",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key_env": "MY_KEY",
        "n_gpu_layers": 0,
        "note": "hello",
    }
    assert config.memory_estimate == 2**29 and config.device == "cpu" and config.dtype == "float32"


def test_registration_is_kept_in_the_store(ip, wb, db_path):
    run_ok(ip, f"%lfw register kept --runtime llama_cpp --source {GGUF} --context-length 256")
    other = Workbench(str(db_path))
    try:
        assert "kept" in other.manager and other.manager.config("kept").context_length == 256
    finally:
        other.close()
    run_ok(ip, "%lfw unregister kept")
    assert "kept" not in wb.manager and [m["name"] for m in wb.store.list_models()] == []


def test_info_health_and_stats(ip, wb):
    run_ok(ip, "%%lfw generate --max-tokens 5 --temperature 0\nSay hi.")
    info = run_ok(ip, "%lfw info smollm2")
    # Every physical core (llama-cpp-python alone would take half the logical CPUs).
    assert info["threads"] == physical_cores() >= max(os.cpu_count() // 2, 1)
    assert info["loaded"] and info["architecture"] == "llama"
    assert info["chat_template"] == "from GGUF metadata" and info["context_length"] == 2048
    health = run_ok(ip, "%lfw health")
    assert [(r["name"], r["ok"]) for r in health] == [("smollm2", True)]
    assert "✓" in health.as_text().splitlines()[-1]
    stats = run_ok(ip, "%lfw stats")
    assert stats[0]["name"] == "smollm2" and stats[0]["runs"] == 1 and stats[0]["tokens_out"] == 5
    assert stats.totals["budget_bytes"] > stats.totals["used_bytes"] > 0
    assert "budget" in stats.as_text().splitlines()[-1]


def test_health_reports_a_model_whose_file_went_away(ip, wb, tmp_path):
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(open(GGUF, "rb").read())
    run_ok(ip, f"%lfw register moved --runtime llama_cpp --source {copy}")
    copy.unlink()
    health = {r["name"]: r for r in run_ok(ip, "%lfw health")}
    assert (
        health["moved"]["ok"] is False
        and "✗" in run_ok(ip, "%lfw health").as_text()
        and "no GGUF file at" in health["moved"]["detail"]
    )


def test_unload_all(ip, wb, capsys):
    wb.manager.load("smollm2")
    run_ok(ip, "%lfw unload --all")
    assert loaded(wb.manager) == set() and "unloaded smollm2" in capsys.readouterr().out


@pytest.mark.parametrize(
    "cell, expected",
    [
        ("%lfw load smolm2", "ModelNotFound: no model named 'smolm2' — registered: smollm2."),
        ("%lfw info nope", "no model named 'nope' — registered: smollm2"),
        ("%lfw register x --runtime llama_cpp --source missing.gguf", "ModelLoadError: no GGUF file at missing.gguf"),
        ("%lfw register x --runtime nosuch --source a.gguf", "unknown runtime 'nosuch' — available: "),
        ("%lfw register x --source a.gguf", "the following arguments are required: --runtime"),
        ("%lfw register 'bad name' --runtime llama_cpp --source a.gguf", "model names are letters, digits"),
        ("%lfw register x --runtime llama_cpp --source a.gguf --colour red", "unrecognized arguments: --colour red"),
        ("%lfw register x --runtime llama_cpp --source a.gguf --option novalue", "--option takes KEY=VALUE"),
        ("%lfw unload", "give a model name or --all"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(ip, wb, capsys, cell, expected):
    wb.manager.load("smollm2")
    assert expected in one_line(run_error(ip, cell, capsys))
    assert wb.manager.names() == ["smollm2"] and wb.store.list_models() == []
    assert loaded(wb.manager) == {"smollm2"}


def test_a_corrupt_gguf_is_refused_and_nothing_changes(ip, wb, capsys, tmp_path):
    (tmp_path / "random.gguf").write_bytes(os.urandom(100_000))
    wb.manager.load("smollm2")
    seen = one_line(run_error(ip, f"%lfw register rnd --runtime llama_cpp --source {tmp_path / 'random.gguf'}", capsys))
    assert "ModelLoadError" in seen and "is not a GGUF file" in seen
    assert wb.manager.names() == ["smollm2"] and loaded(wb.manager) == {"smollm2"}


def test_a_truncated_gguf_fails_at_load_with_one_line(ip, wb, capsys, tmp_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(open(GGUF, "rb").read()[: 4 * 2**20])  # header intact, tensors cut off
    run_ok(ip, f"%lfw register cut --runtime llama_cpp --source {cut}")
    wb.manager.load("smollm2")
    seen = one_line(run_error(ip, "%lfw load cut", capsys))
    assert "ModelLoadError: llama.cpp could not load" in seen and "damaged" in seen
    assert loaded(wb.manager) == {"smollm2"}
    assert run_ok(ip, "%%lfw generate --max-tokens 3\nHi").status == "done"


def test_memory_budget_from_config(ip, wb, capsys):
    from lfwb.workbench import reset_workbench, workbench

    try:
        run_ok(ip, "%config Lfwb.memory_budget_gb = 0.05")
        assert wb.manager.budget_bytes == int(0.05 * 2**30)
        assert "InsufficientMemory: smollm2 needs about" in one_line(run_error(ip, "%lfw load smollm2", capsys))
        reset_workbench()  # a setting made before the first use applies too
        assert workbench().manager.budget_bytes == int(0.05 * 2**30)
    finally:
        run_ok(ip, "%config Lfwb.memory_budget_gb = 0")
    assert workbench().manager.budget_bytes > 2**30
