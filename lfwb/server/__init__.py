"""`lfwb serve`: the HTTP and WebSocket face of the one Workbench.

    >>> from lfwb.server import create_app
    >>> app = create_app(lfwb.workbench())          # what `%lfw serve` and `lfwb serve` run

REST under `/api/v1/` (crud.py, runtime.py, generate.py, pipelines.py), a WebSocket chat
(chat_ws.py), an OpenAI-compatible `/v1` (openai_v1.py). Routes hold no logic another face
needs: each calls the same Workbench, Store or RuntimeManager method a magic calls.
"""

from .app import create_app

__all__ = ["create_app"]
