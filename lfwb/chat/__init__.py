"""Chat: stored sessions with memory (lfwb/chat/session.py, memory.py) and retrieval over the
project's contexts (retrieval.py). `wb.chat("name").send("...")` is the way in."""

DEFAULT_SESSION = "default"  # the session a turn goes to when none is named (every face)
