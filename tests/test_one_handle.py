"""One handle for long work (lfwb/handles.py): a caller's cancel has one outcome everywhere —
the result, marked cancelled, with its partial text — whether it is followed, waited or awaited."""

import asyncio
import threading

from fixtures.scripted import Stall, words


def test_a_cancelled_generation_returns_its_partial_text_marked_cancelled(scripted):
    stall = Stall()
    scripted.model("fake", ["Half", " an", stall, " answer"])
    run = scripted.wb.start_generate("Tell me.", model="fake")
    pieces = []
    for event in run:  # the work runs on the handle's thread; its pieces arrive here
        pieces.append(event.piece)
        if event.text == "Half an":
            assert stall.reached.wait(10)
            run.cancel()
    result = run.result()
    assert (result.status, result.text, run.status, "".join(pieces)) == ("cancelled", "Half an", "cancelled", "Half an")
    assert scripted.wb.store.get_run(run.run_id)["status"] == "cancelled"


def test_a_chat_turn_and_a_pipeline_stop_the_same_way(scripted):
    stall = Stall()
    scripted.model("fake", ["Half", stall])
    turn = scripted.wb.chat("s", model="fake").start("Tell me.")
    threading.Thread(target=lambda: (stall.reached.wait(10), turn.cancel()), daemon=True).start()
    assert (turn.result().status, turn.result().text) == ("cancelled", "Half")
    stall = Stall()
    scripted.model("fake", ["Once", stall])
    run = scripted.wb.start_pipeline({"steps": [{"name": "s", "model": "fake", "prompt": "{input}"}]}, "go")
    threading.Thread(target=lambda: (stall.reached.wait(10), run.cancel()), daemon=True).start()
    assert (run.result().status, run.result().steps["s"].text) == ("cancelled", "Once")


def test_the_async_twins_answer_and_stream(scripted):
    scripted.model("fake", words("Hello there friend"))

    async def main():
        whole = await scripted.wb.agenerate("Hi", model="fake")
        pieces = [piece async for piece in scripted.wb.astream("Hi", model="fake")]
        reply = await scripted.wb.chat("s", model="fake").asend("Hi")
        return whole, pieces, reply

    whole, pieces, reply = asyncio.run(main())
    assert whole.text == "".join(pieces) == reply.text == "Hello there friend"


def test_an_awaited_run_cancelled_from_the_loop_keeps_its_text(scripted):
    stall = Stall()
    scripted.model("fake", ["Half", stall])

    async def main():
        run = scripted.wb.start_generate("Tell me.", model="fake")
        async for event in run:
            if event.text == "Half":
                run.cancel()
        return await run

    result = asyncio.run(main())
    assert (result.status, result.text) == ("cancelled", "Half")
