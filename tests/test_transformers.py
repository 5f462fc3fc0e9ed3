"""The transformers runtime, on tiny random-weight checkpoints built here and on the bundled GGUF.

Nothing is downloaded: HF_HUB_OFFLINE is set, the checkpoints are trained and saved in tmp dirs,
and the SmolLM2 GGUF that ships with lfwb is converted once per module into a tmp cache.
"""

from __future__ import annotations

import gc
import os
import threading
import time
import weakref

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from conftest import one_line, run_error, run_ok  # noqa: E402
from fixtures.tiny_models import build_tiny_gemma, build_tiny_llama  # noqa: E402

from lfwb.errors import GenerationError, ModelLoadError, PromptTooLong, BadInput  # noqa: E402
from lfwb.runtimes import GenerationConfig, ModelConfig, RuntimeManager, default_model_path  # noqa: E402

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

SYSTEM = "Answer in one word."


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("ckpt") / "tiny-llama"))


@pytest.fixture(scope="session")
def tiny_gemma(tmp_path_factory) -> str:
    return str(build_tiny_gemma(tmp_path_factory.mktemp("ckpt") / "tiny-gemma"))


@pytest.fixture(scope="module")
def gguf_cache(tmp_path_factory):
    """A GGUF conversion cache for this module only (never the user's ~/.cache)."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LFWB_CACHE", str(tmp_path_factory.mktemp("lfwb-cache")))
    mp.setenv("HF_HUB_OFFLINE", "1")
    yield
    mp.undo()


@pytest.fixture(scope="module")
def smol_converted(gguf_cache):
    """Convert the bundled SmolLM2 GGUF once (about 20 s here); the progress it reported."""
    manager = RuntimeManager(register_default=False)
    manager.register(ModelConfig(name="smol-hf", source=default_model_path(), runtime="transformers"))
    seen: list[tuple[float, str]] = []
    manager.load("smol-hf", progress=lambda fraction, what: seen.append((fraction, what)))
    manager.unload("smol-hf")
    return seen


def register(wb, name: str, source: str, **settings):
    return wb.manager.register(ModelConfig(name=name, source=source, runtime="transformers", **settings))


def greedy(**settings) -> dict:
    return dict(temperature=0, **settings)


# -- generate, stream, determinism ----------------------------------------------------


def test_registering_a_checkpoint_imports_neither_torch_nor_transformers(tiny_llama):
    import subprocess
    import sys

    probe = (
        "import sys; from lfwb.runtimes import ModelConfig, RuntimeManager; "
        "RuntimeManager(register_default=False).register("
        f"ModelConfig(name='t', source={tiny_llama!r}, runtime='transformers')); "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_generate_from_a_checkpoint_directory_records_a_run(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)
    result = wb.generate("The quick brown fox", model="tiny-llama", raw=True, max_tokens=12, temperature=0)
    row = wb.store.get_run(result.run_id)
    assert result.text and row["status"] == "done" and row["output"] == result.text
    assert row["runtime"] == "transformers" and 0 < row["output_tokens"] <= 12 and row["input_tokens"] > 1


def test_stream_yields_text_as_it_is_written(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)
    gen = GenerationConfig(prompt="Once upon a time", max_tokens=40, temperature=1.0, seed=3)
    chunks = list(wb.manager.stream("tiny-llama", gen))
    pieces = [c.text for c in chunks if c.text]
    assert len(pieces) > 3
    last = chunks[-1]
    assert last.finish_reason in ("length", "stop")
    # Every generated token is counted once, whether or not it printed text.
    assert sum(c.output_tokens for c in chunks) == last.usage["output_tokens"] <= 40
    assert "".join(pieces) == wb.manager.generate("tiny-llama", gen).text


def test_greedy_is_deterministic_and_a_seed_fixes_sampling(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)

    def run(**settings) -> str:
        return wb.generate("Buttons are", model="tiny-llama", raw=True, max_tokens=24, **settings).text

    assert run(temperature=0) == run(temperature=0)
    assert run(temperature=1.0, seed=7) == run(temperature=1.0, seed=7)
    assert run(temperature=1.0, seed=7) != run(temperature=1.0, seed=8)


def test_a_stop_string_ends_the_output_before_it(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)
    settings = dict(raw=True, max_tokens=40, temperature=1.0, seed=5)
    full = wb.generate("SQLite keeps", model="tiny-llama", **settings).text
    stop = full[len(full) // 2 : len(full) // 2 + 3]
    cut = wb.generate("SQLite keeps", model="tiny-llama", stop=[stop], **settings)
    assert len(full) > 10 and stop not in cut.text and full.startswith(cut.text)


# -- chat templates -------------------------------------------------------------------


def test_gemma_system_prompt_is_folded_into_the_first_user_turn(wb, tiny_gemma):
    register(wb, "tiny-gemma", tiny_gemma)
    wb.manager.load("tiny-gemma")
    prompt = wb.manager.runtime("tiny-gemma").format_chat(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Name a colour."}]
    )
    assert prompt == f"<bos><start_of_turn>user\n{SYSTEM}\n\nName a colour.<end_of_turn>\n<start_of_turn>model\n"
    assert wb.manager.info("tiny-gemma")["system_role"].startswith("folded")
    with_system = wb.generate("Name a colour.", model="tiny-gemma", system=SYSTEM, max_tokens=8, temperature=0)
    without = wb.generate("Name a colour.", model="tiny-gemma", max_tokens=8, temperature=0)
    assert wb.store.get_run(with_system.run_id)["status"] == "done"
    assert with_system.input_tokens > without.input_tokens  # the system text reached the model


def test_a_template_with_a_system_role_keeps_it(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)
    wb.manager.load("tiny-llama")
    prompt = wb.manager.runtime("tiny-llama").format_chat(
        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "Hi"}]
    )
    assert prompt.startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\nHi<|im_end|>")
    assert wb.manager.info("tiny-llama")["system_role"] == "supported"


# -- cancel, errors in the worker, unload ---------------------------------------------


def test_interrupt_cancels_with_partial_text_kept(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)
    wb.manager.load("tiny-llama")
    forwards: list[int] = []
    wb.manager.runtime("tiny-llama").model.register_forward_hook(lambda *a: forwards.append(1))
    seen: list[str] = []

    def interrupt_after_three_pieces(text, result):
        seen.append(text)
        if len(seen) == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        wb.generate(
            "Once upon a time",
            model="tiny-llama",
            raw=True,
            max_tokens=400,
            temperature=1.0,
            seed=1,
            on_text=interrupt_after_three_pieces,
        )
    row = wb.runs(limit=1)[0]
    assert row["status"] == "cancelled" and row["output"] == seen[-1] != ""
    assert row["output_tokens"] < 400
    computed = len(forwards)
    time.sleep(0.3)
    assert len(forwards) == computed  # the generation has ended, not just the stream
    wb.manager.unload("tiny-llama")
    assert not [t for t in threading.enumerate() if t.name.startswith("lfwb-transformers")]


def test_an_error_in_the_generation_thread_reaches_the_caller(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)
    wb.manager.load("tiny-llama")
    layer = wb.manager.runtime("tiny-llama").model.model.layers[0]
    calls = []

    def fail_on_fifth_token(module, args, output):  # a real op failing mid-generation (OOM, bad kernel)
        calls.append(1)
        if len(calls) == 5:
            raise RuntimeError("simulated device failure")

    hook = layer.register_forward_hook(fail_on_fifth_token)
    try:
        start = time.perf_counter()
        with pytest.raises(GenerationError, match="simulated device failure"):
            wb.generate("Once upon a time", model="tiny-llama", raw=True, max_tokens=50, temperature=0)
        assert time.perf_counter() - start < 30  # no hang waiting on a streamer that never ends
    finally:
        hook.remove()
    assert wb.runs(limit=1)[0]["status"] == "failed"
    # The model's generate thread outlives the failure: the next generation runs on it.
    assert wb.generate("Once upon a time", model="tiny-llama", raw=True, max_tokens=5, temperature=0).status == "done"


def test_unload_frees_the_model(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)
    wb.generate("Hello", model="tiny-llama", raw=True, max_tokens=5, temperature=0)
    model = weakref.ref(wb.manager.runtime("tiny-llama").model)
    assert model() is not None
    assert wb.manager.unload("tiny-llama")
    gc.collect()
    assert model() is None
    assert wb.manager.info("tiny-llama")["loaded"] is False


def test_transformers_models_share_the_memory_budget(tiny_llama, tiny_gemma):
    manager = RuntimeManager(register_default=False)
    manager.register(ModelConfig(name="a", source=tiny_llama, runtime="transformers"))
    manager.register(ModelConfig(name="b", source=tiny_gemma, runtime="transformers"))
    manager.budget_bytes = int(1.5 * max(manager.estimate("a"), manager.estimate("b")))
    manager.load("a")
    manager.load("b")  # no room for both: the idle one goes
    assert not manager.runtime("a").loaded and manager.runtime("b").loaded


# -- int8 -----------------------------------------------------------------------------


def test_int8_shrinks_the_linear_weights(wb, tiny_llama):
    from torch import nn
    from torch.ao.nn.quantized.dynamic import Linear as Int8Linear

    register(wb, "tiny-f32", tiny_llama)
    register(wb, "tiny-int8", tiny_llama, quantization="int8")
    wb.manager.load("tiny-f32")
    wb.manager.load("tiny-int8")

    def linear_bytes(model) -> int:
        total = 0
        for m in model.modules():
            if isinstance(m, Int8Linear):
                total += m.weight().numel() * m.weight().element_size()
            elif isinstance(m, nn.Linear):
                total += m.weight.numel() * m.weight.element_size()
        return total

    f32, int8 = wb.manager.runtime("tiny-f32").model, wb.manager.runtime("tiny-int8").model
    assert not any(type(m) is nn.Linear for m in int8.modules())
    assert linear_bytes(int8) * 4 == linear_bytes(f32)
    info = wb.manager.info("tiny-int8")
    assert info["device"] == "cpu" and "→" in info["int8"]
    assert wb.generate("Hello", model="tiny-int8", raw=True, max_tokens=8, temperature=0).text


# -- device and dtype -----------------------------------------------------------------


@pytest.mark.parametrize(
    "mps, cuda, bf16, quantization, expected",
    [
        (True, True, True, "none", ("mps", "float16")),
        (False, True, True, "none", ("cuda", "bfloat16")),
        (False, True, False, "none", ("cuda", "float16")),
        (False, False, False, "none", ("cpu", "float32")),
        (True, True, True, "int8", ("cpu", "float32")),
    ],
)
def test_auto_device_prefers_mps_then_cuda_then_cpu(monkeypatch, tiny_llama, mps, cuda, bf16, quantization, expected):
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Test GPU")
    manager = RuntimeManager(register_default=False)
    manager.register(ModelConfig(name="t", source=tiny_llama, runtime="transformers", quantization=quantization))
    info = manager.info("t")
    assert (info["device"], info["dtype"]) == expected
    assert info["device_reason"] and info["dtype_reason"]


def test_asking_for_a_missing_gpu_is_one_line(monkeypatch, tiny_llama):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    manager = RuntimeManager(register_default=False)
    manager.register(ModelConfig(name="t", source=tiny_llama, runtime="transformers", device="cuda"))
    with pytest.raises(BadInput, match="no CUDA GPU") as e:
        manager.load("t")
    assert "\n" not in str(e.value)
    assert "no CUDA GPU" in manager.info("t")["device_reason"]  # %lfw info still answers


def test_the_real_cpu_path(wb, tiny_llama):
    register(wb, "auto", tiny_llama)
    register(wb, "bf16", tiny_llama, dtype="bf16")
    wb.manager.load("auto")
    wb.manager.load("bf16")
    auto, bf16 = wb.manager.runtime("auto").model, wb.manager.runtime("bf16").model
    assert {p.device.type for p in auto.parameters()} == {"cpu"} and auto.dtype == torch.float32
    assert bf16.dtype == torch.bfloat16 and wb.manager.info("bf16")["dtype_reason"] == "asked for"
    assert wb.generate("Hello", model="bf16", raw=True, max_tokens=6, temperature=0).status == "done"


def test_memory_estimate_before_loading_follows_the_dtype(wb, tiny_llama):
    register(wb, "f32", tiny_llama, dtype="float32")
    register(wb, "f16", tiny_llama, dtype="float16")
    params = sum(
        p.numel() for p in __import__("transformers").AutoModelForCausalLM.from_pretrained(tiny_llama).parameters()
    )
    assert wb.manager.estimate("f32") - wb.manager.estimate("f16") >= 2 * params * 0.99
    assert not wb.manager.runtime("f32").loaded


# -- GGUF -----------------------------------------------------------------------------


def test_gguf_conversion_reports_progress_then_is_cached(wb, smol_converted):
    fractions = [f for f, _ in smol_converted]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert sum("tensor" in what for _, what in smol_converted) >= 10  # per-tensor progress while converting
    register(wb, "smol-hf", default_model_path())
    seen: list[str] = []
    wb.manager.load("smol-hf", progress=lambda f, what: seen.append(what))
    assert seen and not any("de-quantising" in w for w in seen)  # the cached checkpoint, not converted again
    assert (wb.manager.info("smol-hf")["converted_checkpoint"]).startswith(os.environ["LFWB_CACHE"])


def test_gguf_estimate_before_conversion(gguf_cache, tmp_path, monkeypatch):
    monkeypatch.setenv("LFWB_CACHE", str(tmp_path))  # an empty cache: estimated from the GGUF's index
    manager = RuntimeManager(register_default=False)
    manager.register(ModelConfig(name="s", source=default_model_path(), runtime="transformers", dtype="bfloat16"))
    assert "not yet" in manager.info("s")["converted_checkpoint"]
    assert 134_000_000 * 2 < manager.estimate("s") < 134_000_000 * 2 + 400 * 2**20


def test_gguf_greedy_first_tokens_match_llama_cpp(wb, smol_converted):
    """Same file, same greedy decoding: the first tokens agree. llama.cpp multiplies the Q4_1
    blocks against 8-bit-quantised activations while transformers de-quantises to float32, so
    the logits differ slightly and a near-tie can flip a later token (see the README)."""
    register(wb, "smol-hf", default_model_path())
    wb.manager.load("smol-hf")
    tokenizer = wb.manager.runtime("smol-hf").tokenizer
    agree = {}
    for prompt in ("Once upon a time", "The capital of France is", "def fibonacci(n):"):
        settings = dict(raw=True, max_tokens=16, temperature=0)
        hf = tokenizer.encode(wb.generate(prompt, model="smol-hf", **settings).text, add_special_tokens=False)
        cpp = tokenizer.encode(wb.generate(prompt, model="smollm2", **settings).text, add_special_tokens=False)
        same = 0
        while same < min(len(hf), len(cpp)) and hf[same] == cpp[same]:
            same += 1
        agree[prompt] = same
    print("greedy tokens in common with llama.cpp (of 16):", agree)
    assert min(agree.values()) >= 4, agree


# -- bad input: one clear line each ---------------------------------------------------


def test_a_directory_without_config_is_refused(wb, tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"\0" * 16)
    with pytest.raises(ModelLoadError) as e:
        register(wb, "broken", str(tmp_path))
    assert "no config.json" in one_line(str(e.value))


def test_a_gguf_of_an_unsupported_architecture_is_refused(wb, tmp_path):
    import numpy as np
    from gguf import GGUFWriter

    path = tmp_path / "rwkv.gguf"
    writer = GGUFWriter(str(path), "rwkv6")
    writer.add_block_count(1)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(ModelLoadError) as e:
        register(wb, "rwkv", str(path))
    assert "'rwkv6'" in one_line(str(e.value)) and "llama_cpp" in str(e.value)


def test_an_unknown_dtype_is_refused(wb, tiny_llama):
    with pytest.raises(BadInput) as e:
        register(wb, "t", tiny_llama, dtype="float8")
    assert "unknown dtype 'float8'" in one_line(str(e.value))


def test_a_prompt_longer_than_the_context_is_refused(wb, tiny_llama):
    register(wb, "tiny-llama", tiny_llama)  # trained context: 512 tokens
    with pytest.raises(PromptTooLong) as e:
        wb.generate("Buttons are blue. " * 400, model="tiny-llama", raw=True, max_tokens=4)
    assert "context window is 512" in one_line(str(e.value))
    assert wb.runs() == []  # bad input leaves no run behind


def test_int8_on_a_gpu_is_refused(wb, tiny_llama):
    with pytest.raises(BadInput) as e:
        register(wb, "t", tiny_llama, device="cuda", quantization="int8")
    assert "CPU only" in one_line(str(e.value))


def test_register_generate_and_info_through_the_magics(ip, tiny_gemma, capsys):
    run_ok(ip, f"%lfw register tiny --runtime transformers --source {tiny_gemma}")
    result = run_ok(ip, f"%%lfw generate -m tiny --max-tokens 6 --temperature 0 --system '{SYSTEM}'\nName a colour.")
    assert result.status == "done" and result.answered_by == "tiny"
    info = run_ok(ip, "%lfw info tiny")
    assert info["device"] == "cpu" and info["system_role"].startswith("folded")
    seen = run_error(ip, f"%lfw register bad --runtime transformers --source {tiny_gemma} --dtype float8", capsys)
    assert "unknown dtype 'float8'" in seen and len(seen.splitlines()) == 1
