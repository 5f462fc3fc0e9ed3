"""Schemas for structured output: what a spec resolves to, how it is bounded, how answers read back."""

from __future__ import annotations

import json

import pytest

from fixtures.orders import Order
from lfwb.errors import BadInput, SchemaMismatch
from lfwb.structured import DEFAULT_MAX_ITEMS, DEFAULT_MAX_LENGTH, Schema, resolve_schema


ORDER_JSON = json.dumps(
    {
        "customer": {"name": "Ada"},
        "items": [{"name": "pale ale", "size": "large", "tags": ["cold"]}],
        "rush": False,
    }
)

POINT = {"type": "object", "properties": {"x": {"type": "integer"}, "label": {"type": "string"}}, "required": ["x"]}


def test_a_pydantic_model_resolves_to_its_schema_and_answers_read_back_as_instances():
    schema = resolve_schema(Order)

    order = schema.parse(ORDER_JSON)

    assert isinstance(order, Order) and order.items[0].size == "large"
    assert schema.name == "Order" and schema.model is Order


def test_every_open_array_and_string_gets_a_bound_and_given_bounds_are_kept():
    given = {
        "type": "object",
        "properties": {
            "tags": {"type": "array", "items": {"type": "string"}},
            "few": {"type": "array", "items": {"type": "string", "maxLength": 5}, "maxItems": 2},
            "kind": {"type": "string", "enum": ["a", "b"]},
        },
    }

    bounded = resolve_schema(given).json_schema["properties"]

    assert bounded["tags"]["maxItems"] == DEFAULT_MAX_ITEMS
    assert bounded["tags"]["items"]["maxLength"] == DEFAULT_MAX_LENGTH
    assert (bounded["few"]["maxItems"], bounded["few"]["items"]["maxLength"]) == (2, 5)
    assert "maxLength" not in bounded["kind"]
    assert "maxItems" not in given["properties"]["tags"]  # the caller's dict is left as it was


def test_bounds_reach_into_a_pydantic_models_definitions():
    item = resolve_schema(Order).json_schema["$defs"]["Item"]

    assert item["properties"]["tags"]["maxItems"] == DEFAULT_MAX_ITEMS
    assert item["properties"]["name"]["maxLength"] == DEFAULT_MAX_LENGTH


def test_a_json_schema_dict_validates_answers_as_plain_values():
    schema = resolve_schema(POINT)

    assert schema.parse('{"x": 3, "label": "origin"}') == {"x": 3, "label": "origin"}
    assert schema.model is None


def test_a_json_file_is_found_by_path_or_by_name_in_the_working_folder(tmp_path):
    (tmp_path / "point.json").write_text(json.dumps(POINT))

    by_name = resolve_schema("point", folder=tmp_path)
    by_path = resolve_schema(str(tmp_path / "point.json"))

    assert by_name.name == by_path.name == "point"
    assert by_name.parse('{"x": 1}') == {"x": 1}


def test_a_name_is_looked_up_in_the_notebook_namespace_first(tmp_path):
    (tmp_path / "Order.json").write_text(json.dumps(POINT))

    schema = resolve_schema("Order", namespace={"Order": Order}, folder=tmp_path)

    assert schema.model is Order


def test_json_is_any_object():
    schema = resolve_schema("json")

    assert schema.json_schema == {"type": "object"}
    assert schema.parse('{"anything": [1, 2]}') == {"anything": [1, 2]}


def test_an_answer_in_a_code_fence_still_reads():
    assert resolve_schema(POINT).parse('```json\n{"x": 2}\n```') == {"x": 2}


@pytest.mark.parametrize(
    "answer, says",
    [
        ('{"x": 1', "not JSON"),
        ('{"label": "no x"}', "does not match"),
        ('{"x": "three"}', "at x"),
    ],
)
def test_an_answer_the_schema_does_not_allow_fails_in_one_line_keeping_the_text(answer, says):
    with pytest.raises(SchemaMismatch) as caught:
        resolve_schema(POINT).parse(answer)

    assert says in str(caught.value) and "\n" not in str(caught.value)
    assert caught.value.text == answer


def test_a_pydantic_mismatch_names_the_field():
    bad = ORDER_JSON.replace('"large"', '"huge"')

    with pytest.raises(SchemaMismatch, match=r"Order at items\.0\.size"):
        resolve_schema(Order).parse(bad)


class NotAModel:
    pass


@pytest.mark.parametrize(
    "spec, says",
    [
        ({"type": "object", "properties": {"x": {"type": "integr"}}}, "not a valid JSON Schema"),
        ({"type": "object", "properties": {"x": {"not": {"type": "string"}}}}, "cannot express"),
        ({"type": "object", "properties": {"x": {"$ref": "https://example.com/x.json"}}}, "cannot express"),
        (NotAModel, "not a Pydantic model"),
        ("Missing", "no schema named 'Missing'"),
        ("nowhere.json", "no schema file nowhere.json"),
        (42, "got int"),
    ],
)
def test_bad_specs_are_refused_in_one_line(spec, says, tmp_path):
    with pytest.raises(BadInput) as caught:
        resolve_schema(spec, namespace={}, folder=tmp_path)

    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_that_is_not_json_is_refused_in_one_line(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")

    with pytest.raises(BadInput, match="broken.json is not a JSON file"):
        resolve_schema("broken.json", folder=tmp_path)


def test_a_resolved_schema_resolves_to_itself():
    schema = resolve_schema(POINT)

    assert resolve_schema(schema) is schema and isinstance(schema, Schema)
