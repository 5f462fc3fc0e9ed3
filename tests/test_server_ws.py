"""The WebSocket chat under bad frames: each is answered with one error line and the socket keeps
serving; a stopped turn's `cancelled` message carries the text it kept."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from fixtures.scripted import Fail, words
from server_fixtures import TIMEOUT_S

API = "/api/v1"
GOOD = {"type": "message", "text": "hi", "model": "fake"}


def talk(server, frames: list) -> list[list[dict]]:
    """Send each frame (a dict as JSON, str or bytes as they are) and collect what answers it:
    one `error`, or a turn up to its `done`/`cancelled`."""

    async def run() -> list[list[dict]]:
        answers = []
        async with websockets.connect(f"{server.ws_url}{API}/chat/notes", open_timeout=TIMEOUT_S, max_size=None) as ws:
            for frame in frames:
                await ws.send(json.dumps(frame) if isinstance(frame, dict) else frame)
                got = []
                while not got or got[-1]["type"] not in ("error", "done", "cancelled"):
                    got.append(json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT_S)))
                answers.append(got)
        return answers

    return asyncio.run(run())


BAD_FRAMES = {
    "binary": (b"\x00\x01 not text", "a chat message is a JSON text frame, not a binary one"),
    "100k deep": ("[" * 100_000 + "]" * 100_000, "a chat message is nested too deeply"),
    "100k deep object": ('{"a":' * 100_000 + "1" + "}" * 100_000, "a chat message is nested too deeply"),
    "model as a list": ({**GOOD, "model": ["a"]}, "a chat message's model: Input should be a valid string"),
    "rag as a string": ({**GOOD, "rag": "no"}, "a chat message's rag: Input should be a valid boolean"),
    "new as a string": ({**GOOD, "new": "false"}, "a chat message's new: Input should be a valid boolean"),
    "text as a number": ({**GOOD, "text": 5}, "a chat message's text: Input should be a valid string"),
    "unknown mode": ({**GOOD, "rag": True, "mode": "psychic"}, "a chat message's mode: Input should be"),
    "misspelt field": ({**GOOD, "txt": "hi"}, "a chat message's txt: Extra inputs are not permitted"),
}


@pytest.mark.parametrize("name", BAD_FRAMES)
def test_a_bad_frame_is_one_error_line_and_the_socket_keeps_serving(server, scripted, name):
    scripted.model("fake", words("hello"))
    frame, said = BAD_FRAMES[name]
    bad, good = talk(server, [frame, GOOD])
    assert len(bad) == 1 and bad[0]["type"] == "error" and bad[0]["code"] == "bad_input"
    assert bad[0]["line"].startswith(f"BadInput: {said}"), bad[0]["line"]
    assert "\n" not in bad[0]["line"]
    assert good[-1]["type"] == "done" and good[-1]["text"] == "hello"
    # Nothing of the bad frame was stored: the one turn is the good one.
    assert [m["content"] for m in server.wb.chat("notes").history()] == ["hi", "hello"]


def test_every_bad_frame_in_a_row_then_a_good_one_on_one_socket(server, scripted):
    scripted.model("fake", words("still here"))
    answers = talk(server, [frame for frame, _ in BAD_FRAMES.values()] + [GOOD])
    assert [a[-1]["type"] for a in answers] == ["error"] * len(BAD_FRAMES) + ["done"]
    assert answers[-1][-1]["text"] == "still here"


def test_a_stopped_chat_turns_cancelled_message_carries_its_partial_text(server, scripted):
    # The stop reaches the turn from inside (as a KeyboardInterrupt would): the turn raises
    # Cancelled with the reply it kept, and the socket passes that reply's text on.
    scripted.model("fake", ["Half", " way", Fail(KeyboardInterrupt())])
    (turn,) = talk(server, [GOOD])
    assert turn[-1]["type"] == "cancelled"
    assert turn[-1]["text"] == "Half way"
    assert turn[-1]["run_id"] == turn[0]["run_id"]
    assert server.wb.store.get_run(turn[-1]["run_id"])["output"] == "Half way"


def test_an_empty_message_over_the_socket_names_no_notebook_flag(server, scripted):
    scripted.model("fake", words("x"))
    (answer,) = talk(server, [{"type": "message", "text": "  ", "model": "fake"}])
    line = answer[-1]["line"]
    assert answer[-1]["type"] == "error" and "%lfw" not in line and "--" not in line and "cell" not in line
