"""A schema reaches remote models: the Gemini stand-in sees it in the request, and llama-cpp-python's
own OpenAI-compatible server (serving SmolLM2) decodes under it."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel

from gemini_server import Reply, register_fake
from test_openai_compat import llama_server, register  # noqa: F401  (the server is a fixture)

pytestmark = pytest.mark.timeout(180)


class Item(BaseModel):
    name: str
    size: Literal["small", "medium", "large"]
    tags: list[str]


class Order(BaseModel):
    customer: str
    items: list[Item]
    rush: bool


ORDER = '{"customer": "Ada", "items": [{"name": "ale", "size": "large", "tags": ["cold"]}], "rush": true}'


def test_gemini_is_asked_for_json_under_the_schema_and_the_answer_reads_back(wb, fake_gemini):
    fake_gemini.default = Reply(text=ORDER)
    register_fake(wb, fake_gemini)

    result = wb.generate("Ada wants a cold ale, fast.", model="g", schema=Order)

    config = fake_gemini.requests[-1]["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    sent = config["responseJsonSchema"]
    assert sent["$defs"]["Item"]["properties"]["size"]["enum"] == ["small", "medium", "large"]
    assert sent["$defs"]["Item"]["properties"]["tags"]["maxItems"] > 0  # the bounded schema
    assert result.data == Order.model_validate_json(ORDER)


def test_gemini_in_json_mode_is_sent_no_schema(wb, fake_gemini):
    fake_gemini.default = Reply(text='{"a": 1}')
    register_fake(wb, fake_gemini)

    assert wb.generate("Anything.", model="g", schema="json").data == {"a": 1}

    config = fake_gemini.requests[-1]["body"]["generationConfig"]
    assert config["responseMimeType"] == "application/json" and "responseJsonSchema" not in config


def test_an_openai_compatible_server_decodes_under_the_schema(wb, llama_server):  # noqa: F811
    register(wb, llama_server.url)

    result = wb.generate(
        "Ada orders a large cold ale and is in a hurry. Write the order as JSON.",
        model="srv",
        schema=Order,
        temperature=0,
        max_tokens=300,
    )

    assert isinstance(result.data, Order) and result.valid
    # llama-cpp-python's server takes a schema inside json_object only; the runtime switched.
    assert wb.manager.config("srv").options["response_format"] == "json_object"


def test_any_object_through_an_openai_compatible_server(wb, llama_server):  # noqa: F811
    register(wb, llama_server.url, name="srv2")

    result = wb.generate("Describe a cat as JSON.", model="srv2", schema="json", temperature=0, max_tokens=200)

    assert isinstance(result.data, dict)
