"""Structured output over /v1: `response_format` constrains decoding as `--schema` does in a cell,
and a field lfwb cannot honour is a 400 naming it, never dropped. The clients are the real ones:
the openai SDK, LangChain's ChatOpenAI and simonw's `llm`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Literal

import openai
import pytest
from pydantic import BaseModel

from fixtures.scripted import words
from server_fixtures import TIMEOUT_S


class Verdict(BaseModel):
    """What the smollm2 tests ask for: small, so a few tokens finish it."""

    mood: Literal["happy", "sad", "neutral"]
    positive: bool


ASK = "Review: 'I love this lamp, it is perfect.' Give the mood and whether it is positive."
CAT = "Describe a cat as JSON with keys name and age."  # any JSON object, and smollm2 closes it within 40 tokens


def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused-on-loopback", timeout=TIMEOUT_S, max_retries=0)


def nested(depth: int) -> dict:
    schema: dict = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def completion(server, **body) -> dict:
    return {"model": "fake", "messages": [{"role": "user", "content": "hi"}], **body}


# -- response_format on the scripted model -----------------------------------------------------


def test_a_json_schema_response_format_constrains_the_model_to_the_bounded_schema(server, scripted):
    from lfwb.structured import resolve_schema

    script = scripted.model("fake", ['{"mood": ', '"happy", ', '"positive": true}'])
    schema = Verdict.model_json_schema()
    answer = client(server).chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": ASK}],
        response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": True}},
    )
    assert Verdict.model_validate_json(answer.choices[0].message.content) == Verdict(mood="happy", positive=True)
    assert script.asked[0].json_schema == resolve_schema(schema).json_schema
    run = server.wb.run(int(answer.id.removeprefix("chatcmpl-")))
    assert (run["status"], run["schema_valid"]) == ("done", 1)  # kept as a cell's --schema run is


def test_an_answer_cut_before_its_json_ends_is_finish_reason_length_as_openai_answers_it(server, scripted):
    scripted.model("fake", ['{"mood": ', '"happy", ', '"positive": true}'])
    ask = dict(model="fake", messages=[{"role": "user", "content": ASK}], max_tokens=2)
    with pytest.raises(openai.LengthFinishReasonError):  # what the SDK raises against OpenAI too
        client(server).chat.completions.parse(**ask, response_format=Verdict)
    stream = client(server).chat.completions.create(**ask, stream=True, response_format={"type": "json_object"})
    chunks = [c.choices[0] for c in stream if c.choices]
    assert "".join(c.delta.content or "" for c in chunks) == '{"mood": "happy", '
    assert chunks[-1].finish_reason == "length"
    assert [(r["status"], r["schema_valid"]) for r in server.wb.runs()] == [("failed", 0)] * 2


def test_json_object_asks_for_any_json_object_and_text_for_free_text(server, scripted):
    script = scripted.model("fake", words('{"a": 1}'))
    sdk = client(server)
    for response_format in ({"type": "json_object"}, {"type": "text"}):
        sdk.chat.completions.create(
            model="fake", messages=[{"role": "user", "content": "hi"}], response_format=response_format
        )
    assert [asked.json_schema for asked in script.asked] == [{"type": "object"}, None]


def test_a_streamed_structured_answer_arrives_in_pieces_that_join_to_the_json(server, scripted):
    scripted.model("fake", ['{"mood": ', '"sad", ', '"positive": false}'])
    stream = client(server).chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": ASK}],
        stream=True,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "verdict", "schema": Verdict.model_json_schema()},
        },
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert Verdict.model_validate_json(text) == Verdict(mood="sad", positive=False)


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "no-such-type"},
        {"type": "object", "properties": {"a": {"$ref": "https://127.0.0.1:9/a.json"}}},  # never fetched
        {"type": "object", "properties": {"a": {"not": {"type": "string"}}}},  # a grammar cannot say it
        {"type": "object", "properties": {"a": {"type": "string", "maxLength": 10**9}}},  # would take the server down
        nested(300),
    ],
    ids=["invalid", "remote-ref", "inexpressible", "a-billion-characters", "nested-300-deep"],
)
def test_a_schema_lfwb_cannot_decode_under_is_a_400_naming_it_and_no_run(server, scripted, schema):
    script = scripted.model("fake", words("never asked"))
    answer = server.http.post(
        "/v1/chat/completions",
        json=completion(
            server, response_format={"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema}}
        ),
    )
    assert answer.status_code == 400 and "verdict" in answer.json()["error"]["message"]
    assert server.wb.runs() == [] and script.asked == []


# -- what lfwb cannot honour -------------------------------------------------------------------

TOOL = {"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}
REFUSED = {
    "tools": [TOOL],
    "tool_choice": "required",
    "functions": [TOOL["function"]],
    "function_call": {"name": "weather"},
    "n": 2,
    "logprobs": True,
    "top_logprobs": 3,
    "logit_bias": {"50256": -100},
    "frequency_penalty": 0.5,
    "presence_penalty": 0.5,
    "modalities": ["text", "audio"],
    "audio": {"voice": "alloy", "format": "wav"},
    "prediction": {"type": "content", "content": "hi"},
    "reasoning_effort": "high",
    "verbosity": "low",
    "web_search_options": {},
    "best_of": 3,  # not OpenAI's chat field at all: refused as unknown, not ignored
}


@pytest.mark.parametrize("field", list(REFUSED))
def test_a_field_lfwb_cannot_honour_is_a_400_that_names_it_and_records_no_run(server, scripted, field):
    script = scripted.model("fake", words("never asked"))
    answer = server.http.post("/v1/chat/completions", json=completion(server, **{field: REFUSED[field]}))
    error = answer.json()["error"]
    assert answer.status_code == 400 and field in error["message"] and error["param"] == field
    assert server.wb.runs() == [] and script.asked == []


def test_the_sdk_raises_its_bad_request_error_naming_tools(server, scripted):
    scripted.model("fake", words("never asked"))
    with pytest.raises(openai.BadRequestError, match="tools"):
        client(server).chat.completions.create(model="fake", messages=[{"role": "user", "content": "hi"}], tools=[TOOL])


def test_an_image_part_is_refused_not_dropped_from_the_message(server, scripted):
    scripted.model("fake", words("never asked"))
    parts = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": "http://x/y.png"}}]
    answer = server.http.post(
        "/v1/chat/completions", json=completion(server, messages=[{"role": "user", "content": parts}])
    )
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "messages[0].content[1]"
    assert server.wb.runs() == []


def test_every_refused_field_is_named_in_one_answer(server, scripted):
    scripted.model("fake", words("never asked"))
    answer = server.http.post("/v1/chat/completions", json=completion(server, tools=[TOOL], n=3, logprobs=True))
    message = answer.json()["error"]["message"]
    assert all(name in message for name in ("tools", "n (", "logprobs"))


def test_the_values_that_ask_for_nothing_are_answered(server, scripted):
    script = scripted.model("fake", words("plain answer"))
    nothing = {
        "n": 1,
        "logprobs": False,
        "top_logprobs": 0,
        "tools": [],
        "tool_choice": "none",
        "frequency_penalty": 0,
        "presence_penalty": 0.0,
        "logit_bias": {},
        "modalities": ["text"],
        "user": "u-1",
        "store": False,
        "metadata": {"k": "v"},
        "parallel_tool_calls": False,
        "top_k": 7,
    }
    answer = client(server).chat.completions.create(
        model="fake",
        messages=[{"role": "user", "content": "hi"}],
        **{k: v for k, v in nothing.items() if k != "top_k"},
        extra_body={"top_k": 7},
    )
    assert answer.choices[0].message.content == "plain answer" and script.asked[0].top_k == 7


# -- smollm2 through the clients people use ------------------------------------------------------


@pytest.mark.slow
def test_the_sdk_gets_json_that_validates_from_smollm2(server):
    sdk = client(server)
    ask = dict(model="smollm2", messages=[{"role": "user", "content": ASK}], max_tokens=40, temperature=0, seed=1)
    parsed = sdk.chat.completions.parse(**ask, response_format=Verdict)  # the SDK sends a strict json_schema
    assert isinstance(parsed.choices[0].message.parsed, Verdict)
    stream = sdk.chat.completions.create(
        **{**ask, "messages": [{"role": "user", "content": CAT}]}, response_format={"type": "json_object"}, stream=True
    )
    assert isinstance(json.loads("".join(c.choices[0].delta.content or "" for c in stream if c.choices)), dict)


@pytest.mark.slow
def test_langchain_with_structured_output_gets_a_model_instance_from_smollm2(server):
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        base_url=f"{server.url}/v1",
        api_key="x",
        model="smollm2",
        max_tokens=40,
        temperature=0,
        max_retries=0,
        timeout=TIMEOUT_S,
    )
    verdict = chat.with_structured_output(Verdict, method="json_schema").invoke(ASK)
    assert isinstance(verdict, Verdict)


@pytest.mark.slow
def test_llm_with_json_object_gets_json_from_smollm2(server, tmp_path):
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: lfwb-smollm2\n  model_name: smollm2\n  api_base: {server.url}/v1\n"
    )
    llm = Path(sys.executable).with_name("llm")
    done = subprocess.run(
        [
            str(llm),
            "-m",
            "lfwb-smollm2",
            "-o",
            "json_object",
            "1",
            "-o",
            "max_tokens",
            "40",
            "-o",
            "temperature",
            "0",
            CAT,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "LLM_USER_PATH": str(tmp_path)},
    )
    assert done.returncode == 0, done.stderr
    assert isinstance(json.loads(done.stdout), dict)
