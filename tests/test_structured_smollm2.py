"""Structured output end to end on the bundled SmolLM2 (llama.cpp): an order schema with nested
objects, enums and lists, over twenty everyday requests."""

from __future__ import annotations


import pytest

from conftest import run_ok
from fixtures.orders import Order
from lfwb.errors import SchemaMismatch
from lfwb.structured import resolve_schema

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


REQUESTS = [
    "Alice orders two large pale ales, cold, for the patio; she is in a hurry.",
    "Bob wants a small coffee with oat milk and a medium croissant.",
    "Carol: one large pizza with mushrooms and olives, not urgent.",
    "Dan needs three medium t-shirts, red and blue, as fast as possible.",
    "Eve buys a small notebook, lined, and a large backpack, waterproof.",
    "Frank (frank@example.com) orders a medium salad, vegan, no rush.",
    "Grace wants a large birthday cake with candles delivered today.",
    "Hank orders two small espressos and a medium muffin, blueberry.",
    "Ivy needs a large tent and a small stove for camping next week.",
    "Jack buys a medium hoodie in grey and a small cap, urgently.",
    "Kim orders a large bouquet of roses for an anniversary, rush delivery.",
    "Leo wants a small phone case, black, and a medium charger.",
    "Mia orders a medium bowl of ramen, spicy, and a small green tea.",
    "Noah buys a large sofa, leather, and two small cushions, no hurry.",
    "Olivia (olivia@mail.com) wants a small candle, lavender scented.",
    "Paul orders a large box of nails and a medium hammer for a repair today.",
    "Quinn wants a medium yoga mat, purple, non-slip.",
    "Rita orders three small cupcakes, chocolate, and a large lemonade.",
    "Sam buys a large monitor and a small keyboard, wireless, quickly please.",
    "Tina orders a medium winter coat, warm and red, no rush.",
]
ASK = "Write this order as JSON with customer, items (name, size, tags) and rush: "


def test_twenty_requests_all_give_valid_orders_with_schema(ip, wb):
    ip.user_ns["Order"] = Order
    orders = []
    for i, request in enumerate(REQUESTS):
        ip.user_ns["request"] = ASK + request
        run_ok(ip, f"%%lfw generate --schema Order --seed {i} -o order\n{{request}}")
        orders.append(ip.user_ns["order"])

    assert all(isinstance(order, Order) for order in orders) and len(orders) == 20
    runs = wb.store.list_runs(limit=20)
    assert [wb.store.get_run(r["id"])["schema_valid"] for r in runs] == [1] * 20


def test_without_the_schema_few_answers_would_parse(wb, capsys):
    schema = resolve_schema(Order)
    parsed = 0
    for i, request in enumerate(REQUESTS):
        try:
            schema.parse(wb.generate(ASK + request, seed=i).text)
            parsed += 1
        except SchemaMismatch:
            pass
    with capsys.disabled():
        print(f"\nwithout --schema, {parsed} of {len(REQUESTS)} SmolLM2 answers parse as an Order")
    assert parsed < len(REQUESTS)  # what the schema is for


def test_an_answer_cut_by_max_tokens_fails_and_keeps_its_partial_json(wb):
    with pytest.raises(SchemaMismatch, match="10-token limit"):
        wb.generate(ASK + REQUESTS[0], schema=Order, max_tokens=10)

    [row] = wb.store.list_runs(limit=1)
    row = wb.store.get_run(row["id"])
    assert row["status"] == "failed" and row["output"].lstrip().startswith("{") and row["schema_valid"] == 0
