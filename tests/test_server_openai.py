"""The OpenAI-compatible /v1 through the official `openai` SDK, and the serve magic and console script."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import openai
import pytest

from fixtures.scripted import words
from server_fixtures import TIMEOUT_S


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused-on-loopback", timeout=TIMEOUT_S, max_retries=0)


def test_the_sdk_lists_models_and_aliases(server, scripted):
    scripted.model("fake", words("hi"))
    server.wb.manager.alias("best", ["fake", "smollm2"])
    ids = {m.id: m.owned_by for m in client(server).models.list()}
    assert ids["fake"] == "scripted" and ids["best"] == "lfwb-alias"


def test_a_completion_through_the_sdk_is_a_recorded_run(server, scripted):
    script = scripted.model("fake", words("Blue buttons"), input_tokens=7)
    answer = client(server).chat.completions.create(
        model="fake",
        max_tokens=20,
        seed=3,
        messages=[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Colour?"}],
    )
    assert answer.choices[0].message.content == "Blue buttons"
    assert (answer.usage.prompt_tokens, answer.usage.completion_tokens) == (7, 2)
    assert script.asked[0].messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Colour?"},
    ]
    run = server.wb.store.get_run(int(answer.id.removeprefix("chatcmpl-")))
    assert (run["prompt"], run["output"], run["seed"]) == ("Colour?", "Blue buttons", 3)


def test_an_sdk_stream_ends_with_the_usage_when_asked(server, scripted):
    scripted.model("fake", words("Once upon a time"), input_tokens=5)
    stream = client(server).chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "story"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Once upon a time"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 4


def test_an_alias_answers_with_its_first_link_that_can(server, scripted):
    from lfwb.errors import MissingCredentials
    from fixtures.scripted import Fail

    scripted.model("down", [Fail(MissingCredentials("no key for down", model="down", provider="x"))])
    scripted.model("up", words("from up"))
    server.wb.manager.alias("chain", ["down", "up"])
    answer = client(server).chat.completions.create(model="chain", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content == "from up"
    assert server.wb.store.get_run(int(answer.id.removeprefix("chatcmpl-")))["answered_by"] == "up"


def test_an_unknown_model_is_the_sdks_not_found_error(server):
    with pytest.raises(openai.NotFoundError, match="no model named 'gpt-9'"):
        client(server).chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])


@pytest.mark.slow
def test_the_sdk_talks_to_smollm2_streaming_and_not(server):
    sdk = client(server)
    ask = dict(
        model="smollm2", messages=[{"role": "user", "content": "Say hello."}], max_tokens=12, seed=1, temperature=0
    )
    whole = sdk.chat.completions.create(**ask)
    streamed = "".join(
        c.choices[0].delta.content or "" for c in sdk.chat.completions.create(**ask, stream=True) if c.choices
    )
    assert whole.choices[0].message.content.strip() and streamed == whole.choices[0].message.content
    assert whole.usage.completion_tokens <= 12


# -- the faces that start it ----------------------------------------------------------------


def test_serve_magic_starts_reports_and_stops_the_kernels_server(ip, scripted):
    from conftest import run_ok

    scripted.model("fake", words("from the kernel"))
    started = run_ok(ip, "%lfw serve --port 0")
    try:
        assert run_ok(ip, "%lfw serve --status")["url"] == started["url"]
        answer = httpx.post(
            f"{started['url']}/api/v1/generate", json={"prompt": "x", "model": "fake"}, timeout=TIMEOUT_S
        )
        run_id = answer.json()["run_id"]
        assert run_ok(ip, f"%lfw show {run_id}")["output"] == "from the kernel"  # the notebook's own store
    finally:
        stopped = run_ok(ip, "%lfw serve --stop")
    assert stopped["stopped"] == started["url"]
    assert run_ok(ip, "%lfw serve --status") == {"running": False}
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{started['url']}/api/v1/health")


def test_a_second_server_in_one_kernel_is_refused_in_one_line(ip, capsys):
    from conftest import run_error, run_ok

    run_ok(ip, "%lfw serve --port 0")
    try:
        shown = run_error(ip, "%lfw serve --port 0", capsys)
        assert "already running" in shown and len(shown.splitlines()) == 1
    finally:
        run_ok(ip, "%lfw serve --stop")


def test_the_console_script_refuses_a_public_address_without_a_token(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "lfwb.server.cli", "serve", "--host", "0.0.0.0", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "needs a token" in done.stderr
    assert not (tmp_path / "x.db").exists()  # refused before anything was made


def test_the_console_script_and_the_magic_refuse_a_port_out_of_range_in_one_line(tmp_path, ip, capsys):
    from conftest import run_error
    from lfwb.server.cli import main

    assert main(["serve", "--port", "70000", "--db", str(tmp_path / "x.db")]) == 2
    assert capsys.readouterr().err == "lfwb serve: --port must be from 0 to 65535, got 70000\n"
    assert not (tmp_path / "x.db").exists()
    shown = run_error(ip, "%lfw serve --port 70000", capsys)
    assert "BadInput" in shown and "--port must be from 0 to 65535, got 70000" in shown and len(shown.splitlines()) == 1


def test_the_console_script_serves_a_store_file_on_the_port_it_prints(tmp_path):
    import re

    from lfwb.store import Store

    db = tmp_path / "served.db"
    store = Store(db)
    store.add_context(store.ensure_project("default")["id"], "Served from a file.", name="note")
    store.close()
    env = {**os.environ, "LFWB_CORES_DIR": os.environ["LFWB_CORES_DIR"]}
    proc = subprocess.Popen(
        [sys.executable, "-m", "lfwb.server.cli", "serve", "--port", "0", "--db", str(db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        banner = proc.stdout.readline()
        port = int(re.search(r"http://127\.0\.0\.1:(\d+) ", banner).group(1))
        assert port != 0, banner  # --port 0: the free port it got, not the one asked for
        url = f"http://127.0.0.1:{port}/api/v1/contexts"
        for _ in range(200):
            try:
                items = httpx.get(url, timeout=TIMEOUT_S).json()["items"]
                break
            except httpx.ConnectError:
                import time

                time.sleep(0.05)
        assert [c["name"] for c in items] == ["note"]
    finally:
        proc.terminate()
        proc.wait(30)
