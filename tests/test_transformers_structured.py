"""Structured output on the transformers runtime: decoding under a JSON Schema (xgrammar) and prefill.

A tiny Llama with random weights, whose tokenizer was trained on text with JSON in it, writes
noise on its own; under a schema the grammar leaves it only tokens that keep the answer JSON
the schema allows, so every answer parses, whatever the seed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Literal

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from conftest import plain, run_error  # noqa: E402
from fixtures.tiny_models import JSON_CORPUS, build_tiny_llama  # noqa: E402

from lfwb.errors import BadInput, SchemaUnsupported  # noqa: E402
from lfwb.runtimes import ModelConfig  # noqa: E402
from lfwb.structured import resolve_schema  # noqa: E402

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("xgrammar")

ORDER = {
    "type": "object",
    "properties": {
        "customer": {"type": "string", "maxLength": 12},
        "items": {
            "type": "array",
            "maxItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string", "maxLength": 8},
                    "size": {"enum": ["small", "medium", "large"]},
                    "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 6}},
                },
                "required": ["name", "size", "tags"],
                "additionalProperties": False,
            },
        },
        "rush": {"type": "boolean"},
    },
    "required": ["customer", "items", "rush"],
    "additionalProperties": False,
}


@pytest.fixture(scope="session")
def tiny_json_llama(tmp_path_factory) -> str:
    return str(build_tiny_llama(tmp_path_factory.mktemp("ckpt") / "tiny-json-llama", corpus=JSON_CORPUS))


@pytest.fixture
def tiny(wb, tiny_json_llama) -> str:
    wb.manager.register(ModelConfig(name="tiny", source=tiny_json_llama, runtime="transformers"))
    return "tiny"


def test_every_answer_under_a_schema_is_json_the_schema_allows(wb, tiny):
    results = [
        wb.generate("Write the order as JSON.", model=tiny, schema=ORDER, max_tokens=400, temperature=1.0, seed=seed)
        for seed in range(3)
    ]
    for result in results:  # each read back through the schema (SchemaMismatch otherwise)
        assert set(result.data) == {"customer", "items", "rush"} and len(result.data["items"]) <= 2
        assert wb.store.get_run(result.run_id)["schema_valid"] == 1
    free = [
        wb.generate("Write the order as JSON.", model=tiny, max_tokens=60, temperature=1.0, seed=seed).text
        for seed in range(3)
    ]
    assert not any(_parses(text) for text in free)  # the model alone writes no JSON: the grammar does it


def test_a_pydantic_schema_comes_back_as_its_model(wb, tiny):
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        name: str = pydantic.Field(max_length=8)
        size: Literal["small", "large"]

    class Order(pydantic.BaseModel):
        customer: str = pydantic.Field(max_length=10)
        items: list[Item] = pydantic.Field(max_length=2)  # $defs and $ref in its JSON Schema
        rush: bool

    result = wb.generate("An order, please.", model=tiny, schema=Order, max_tokens=300, temperature=0.8, seed=3)
    assert isinstance(result.data, Order) and all(isinstance(item, Item) for item in result.data.items)


def test_the_answer_starts_with_the_prefill(wb, tiny):
    result = wb.generate("Tell a story.", model=tiny, prefill="Once upon a time", max_tokens=8, temperature=0)
    assert result.text.startswith("Once upon a time") and len(result.text) > len("Once upon a time")
    assert wb.store.get_run(result.run_id)["output"].startswith("Once upon a time")
    chunks = list(wb.manager.stream(tiny, _chat("Go on.", prefill="```jsx\n", max_tokens=4, temperature=0)))
    assert chunks[0].text.startswith("```jsx\n")  # with the first text the model writes
    marker = wb.generate("Go on.", model=tiny, prefill="<|im_end|>", max_tokens=4, temperature=0)
    assert marker.text.startswith("<|im_end|>") and marker.output_tokens > 0  # text, not the end-of-turn token


def test_a_prefill_under_a_schema_is_continued_as_json(wb, tiny):
    schema = resolve_schema(ORDER)
    gen = _chat(
        "Order for Ana.",
        json_schema=schema.json_schema,
        prefill='{"customer": "Ana',
        max_tokens=400,
        temperature=1.0,
        seed=7,
    )
    text = "".join(chunk.text for chunk in wb.manager.stream(tiny, gen))
    assert text.startswith('{"customer": "Ana') and schema.parse(text)["customer"].startswith("Ana")


def test_a_schema_the_grammar_cannot_express_is_one_line_and_no_run(ip, wb, tiny, capsys):
    ip.user_ns["Age"] = {"type": "object", "properties": {"age": {"type": "integer", "minimum": 5, "maximum": 2}}}
    seen = run_error(ip, f"%%lfw generate -m {tiny} --schema Age --max-tokens 20\nHow old?", capsys)
    # The backend finds it out as the model is asked (the cell's placeholder was already shown): one error line.
    errors = [line for line in plain(seen).splitlines() if "Schema" in line]
    assert (
        errors
        == [
            "SchemaUnsupported: constrained decoding cannot express the schema: Invalid range: "
            "minimum greater than maximum"
        ]
        and "Traceback" not in seen
    )
    with pytest.raises(SchemaUnsupported) as caught:
        wb.generate("How old?", model=tiny, schema=ip.user_ns["Age"], max_tokens=20)
    assert isinstance(caught.value, BadInput)
    gen = _chat("Order?", json_schema=ORDER, prefill="Sure! ", max_tokens=20)
    with pytest.raises(SchemaUnsupported, match=r"^the prefill 'Sure! ' does not start an answer the schema allows"):
        list(wb.manager.stream(tiny, gen))
    assert wb.runs() == []  # refused before generating: nothing kept


def test_xgrammar_is_imported_only_when_a_schema_is_used(tiny_json_llama):
    code = (
        "import sys; from lfwb.runtimes import GenerationConfig, ModelConfig, RuntimeManager\n"
        "m = RuntimeManager(register_default=False)\n"
        f"m.register(ModelConfig(name='t', source={tiny_json_llama!r}, runtime='transformers'))\n"
        "m.generate('t', GenerationConfig(prompt='Hi', max_tokens=3, temperature=0))\n"
        "before = 'xgrammar' in sys.modules\n"
        "m.generate('t', GenerationConfig(prompt='Hi', max_tokens=30, temperature=0, json_schema={'enum': ['a', 'b']}))\n"
        "print(before, 'xgrammar' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["False", "True"], out.stderr[-2000:]


def _chat(prompt: str, **settings):
    from lfwb.runtimes import GenerationConfig

    return GenerationConfig(messages=[{"role": "user", "content": prompt}], **settings)


def _parses(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
