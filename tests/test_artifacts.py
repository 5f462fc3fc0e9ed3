"""Artifacts: fenced code in an answer becomes rows of its run, and files on request."""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from conftest import run_ok, symlink_out
from fixtures.scripted import words
from lfwb.errors import BadInput, NotFound
from lfwb.pipelines.artifacts import export_files, extract_artifacts, save_artifacts

FENCE = "`" * 3

# (answer, [(kind, filename, content)]) — what a reader of the Markdown would call the code in it.
MARKDOWN = {
    "a language and a title": (
        'Here:\n```jsx title="Button.jsx"\nexport default () => <button/>\n```\nDone.',
        [("jsx", "Button.jsx", "export default () => <button/>\n")],
    ),
    "a bare filename after the language": (
        "```css Button.css\n.b { color: red }\n```",
        [("css", "Button.css", ".b { color: red }\n")],
    ),
    "language:filename": ("```js:src/app.js\nlet a = 1\n```", [("js", "src/app.js", "let a = 1\n")]),
    "only a filename": ("```Button.jsx\n<b/>\n```", [("jsx", "Button.jsx", "<b/>\n")]),
    "aliases folded": (
        "```py\nprint(1)\n```\n```JavaScript\nf()\n```\n```yml\na: 1\n```",
        [("python", None, "print(1)\n"), ("js", None, "f()\n"), ("yaml", None, "a: 1\n")],
    ),
    "a // file: first line": (
        "```jsx\n// file: src/Card.jsx\nexport const Card = 1\n```",
        [("jsx", "src/Card.jsx", "// file: src/Card.jsx\nexport const Card = 1\n")],
    ),
    "a # file: first line": (
        "```python\n# file: app.py\nx = 1\n```",
        [("python", "app.py", "# file: app.py\nx = 1\n")],
    ),
    "a /* file: */ first line": (
        "```css\n/* file: theme.css */\n:root {}\n```",
        [("css", "theme.css", "/* file: theme.css */\n:root {}\n")],
    ),
    "a filename on the line before": (
        "**Card.tsx**\n\n```tsx\nexport {}\n```",
        [("tsx", "Card.tsx", "export {}\n")],
    ),
    "javascript named .jsx is jsx": (
        "```javascript title=App.jsx\n<App/>\n```",
        [("jsx", "App.jsx", "<App/>\n")],
    ),
    "no language: text": ("```\nplain words\n```", [("text", None, "plain words\n")]),
    "no language, kind from the filename": ("```\n// file: a.py\nx\n```", [("python", "a.py", "// file: a.py\nx\n")]),
    "nested fences: the outer holds the inner": (
        "````markdown\nUse it like this:\n```jsx\n<Button/>\n```\n````",
        [("markdown", None, "Use it like this:\n```jsx\n<Button/>\n```\n")],
    ),
    "an unterminated fence runs to the end": (
        "Sure!\n```jsx\nexport default function App() {\n  return <div/>\n\n",
        [("jsx", None, "export default function App() {\n  return <div/>\n")],
    ),
    "a tilde fence holds backtick lines": (
        "~~~html\n<pre>\n```\n</pre>\n~~~",
        [("html", None, "<pre>\n```\n</pre>\n")],
    ),
    "a longer closing fence closes": ("```css\na {}\n`````\nafter", [("css", None, "a {}\n")]),
    "a shorter or other fence does not close": (
        "````js\n```\n~~~~\n````",
        [("js", None, "```\n~~~~\n")],
    ),
    "indented up to three spaces, indentation taken off": (
        "   ```js\n   let a\n  let b\n      let c\n   ```",
        [("js", None, "let a\nlet b\n   let c\n")],
    ),
    "four spaces is no fence": ("    ```js\n    let a\n    ```", []),
    "backticks in the info string are inline code": ("```js``` and\n```py\nx\n```", [("python", None, "x\n")]),
    "an empty block is no artifact": ("```jsx\n\n```\n", []),
    "windows line endings": ("```css\r\na {}\r\n```\r\n", [("css", None, "a {}\n")]),
    "two blocks with one filename": (
        "```jsx Button.jsx\nexport const A = 1\n```\n```jsx Button.jsx\nexport const B = 2\n```",
        [("jsx", "Button.jsx", "export const A = 1\n"), ("jsx", "Button-2.jsx", "export const B = 2\n")],
    ),
    "the same code twice is one artifact": (
        "```css\na {}\n```\nagain:\n```css\na {}\n```",
        [("css", None, "a {}\n")],
    ),
}


@pytest.mark.parametrize("answer, expected", MARKDOWN.values(), ids=MARKDOWN.keys())
def test_fenced_code_is_read_the_way_commonmark_reads_it(answer, expected):
    assert [(a.kind, a.filename, a.content) for a in extract_artifacts(answer)] == expected


def test_an_unterminated_fence_is_marked_as_such():
    closed, open_ = extract_artifacts("```css\na {}\n```\n```js\nf()")
    assert closed.closed and not open_.closed and open_.line == 4


def a_run(store, project_id: int) -> int:
    run = store.add_run(project_id, "generate", model="fake", prompt="write it")
    return run["id"]


def test_saved_artifacts_are_the_runs_rows_once_per_content(store):
    project = store.create_project("p")
    run = a_run(store, project["id"])
    answer = "```jsx Button.jsx\nexport const A = 1\n```\n```css\na {}\n```"
    added = save_artifacts(store, run, project["id"], answer)
    assert [(r["kind"], r["filename"]) for r in added] == [("jsx", "Button.jsx"), ("css", None)]
    # A second step of the same run saying the same and something new under a taken name.
    again = save_artifacts(store, run, project["id"], answer + "\n```jsx Button.jsx\nexport const B = 2\n```")
    assert [(r["filename"], r["content"]) for r in again] == [("Button-2.jsx", "export const B = 2\n")]
    assert len(store.list_artifacts(run_id=run)) == 3
    other = a_run(store, project["id"])  # another run keeps its own copy
    assert len(save_artifacts(store, other, project["id"], answer)) == 2


def test_an_artifact_row_keeps_its_content_hash_in_the_file(store, db_path):
    project = store.create_project("p")
    [row] = save_artifacts(store, a_run(store, project["id"]), project["id"], "```py\nx = 1\n```")
    conn = sqlite3.connect(db_path)
    digest = conn.execute("SELECT sha256 FROM artifacts WHERE id = ?", (row["id"],)).fetchone()[0]
    conn.close()
    assert digest == extract_artifacts("```py\nx = 1\n```")[0].sha256


def test_artifacts_from_before_the_hash_get_one_when_the_file_is_upgraded(db_path):
    from lfwb.store import Store, apply_migrations

    conn = sqlite3.connect(db_path, isolation_level=None)
    apply_migrations(conn, str(db_path), upto="m004_costs_and_fallbacks")
    conn.execute("INSERT INTO projects (name, created_at) VALUES ('p', 'then')")
    conn.execute("INSERT INTO runs (project_id, kind, started_at) VALUES (1, 'generate', 'then')")
    conn.execute("INSERT INTO artifacts (project_id, run_id, content, created_at) VALUES (1, 1, 'a {}\n', 'then')")
    conn.close()
    store = Store(db_path)
    try:
        assert save_artifacts(store, 1, 1, "```css\na {}\n```") == []  # the old row is that content
    finally:
        store.close()


def test_saving_for_a_run_that_does_not_exist_is_one_line(store):
    project = store.create_project("p")
    with pytest.raises(NotFound, match="refers to a row that does not exist"):
        save_artifacts(store, 999, project["id"], "```css\na {}\n```")


# -- export -----------------------------------------------------------------------------------


def saved(store, answer: str) -> int:
    project = store.ensure_project("p")
    run = a_run(store, project["id"])
    save_artifacts(store, run, project["id"], answer)
    return run


def listing(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_export_writes_each_artifact_under_its_name(store, tmp_path):
    run = saved(store, "```jsx src/Button.jsx\n<b/>\n```\n```css\na {}\n```")
    written = export_files(store, run, tmp_path / "out")
    css_id = store.list_artifacts(run_id=run)[0]["id"]
    assert listing(tmp_path / "out") == {"src/Button.jsx": "<b/>\n", f"artifact-{css_id}.css": "a {}\n"}
    assert [w["bytes"] for w in written] == [5, 5]


@pytest.mark.parametrize(
    "name, setup, says",
    [
        ("../evil.js", None, "'..' would leave the folder"),
        ("src/../../evil.js", None, "'..' would leave the folder"),
        ("..\\evil.js", None, "'..' would leave the folder"),
        ("/tmp/evil.js", None, "an absolute path"),
        ("\\\\server\\share\\evil.js", None, "an absolute path"),
        ("C:\\evil.js", None, "a drive letter"),
        ("c:evil.js", None, "a drive letter"),
        ("evil\x00.js", None, "NUL"),
        ("link/evil.js", symlink_out, "a symlink in it points out"),
    ],
)
def test_export_refuses_a_name_that_would_leave_the_folder_and_writes_nothing(store, tmp_path, name, setup, says):
    if setup:
        setup(tmp_path)
    project = store.ensure_project("p")
    run = a_run(store, project["id"])
    store.add_artifact(project["id"], "fine\n", run_id=run, kind="text", filename="fine.txt")
    store.add_artifact(project["id"], "bad\n", run_id=run, kind="js", filename=name)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    with pytest.raises(BadInput, match=says) as refused:
        export_files(store, run, tmp_path / "out")
    assert "nothing was written" in str(refused.value) and "\n" not in str(refused.value)
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before  # not even fine.txt, nor out/


def test_export_refuses_two_artifacts_that_would_be_one_file(store, tmp_path):
    project = store.ensure_project("p")
    run = a_run(store, project["id"])
    store.add_artifact(project["id"], "a\n", run_id=run, filename="App.js")
    store.add_artifact(project["id"], "b\n", run_id=run, filename="./app.js")
    with pytest.raises(BadInput, match="would both be written"):
        export_files(store, run, tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- through the shell ------------------------------------------------------------------------


ANSWER = f'Here is the button.\n\n{FENCE}jsx title="Button.jsx"\nexport default function Button() {{\n  return <button>Hi</button>;\n}}\n{FENCE}\n'


def test_a_generated_jsx_block_is_an_artifact_of_its_run(ip, scripted):
    scripted.model("fake", words(ANSWER))
    result = run_ok(ip, "%%lfw generate -m fake\nWrite a button")
    assert result.status == "done"
    rows = run_ok(ip, f"%lfw artifacts {result.run_id}")
    assert [(r["kind"], r["filename"]) for r in rows] == [("jsx", "Button.jsx")]
    assert "return <button>Hi</button>;" in rows[0]["content"]


def test_export_files_writes_a_generated_component_into_a_folder(ip, scripted, tmp_path):
    scripted.model("fake", words(ANSWER))
    result = run_ok(ip, "%%lfw generate -m fake\nWrite a button")
    written = run_ok(ip, f"%lfw export files {result.run_id} --to components")
    assert [Path(w["path"]).name for w in written] == ["Button.jsx"]
    assert "Button.jsx" in written.as_text()
    assert (tmp_path / "components" / "Button.jsx").read_text().startswith("export default function Button()")


def test_an_answer_without_code_leaves_no_artifact(ip, scripted):
    scripted.model("fake", words("Buttons should be blue."))
    result = run_ok(ip, "%%lfw generate -m fake\nAdvice?")
    assert run_ok(ip, f"%lfw artifacts {result.run_id}") == []


def test_artifacts_go_with_their_run_to_the_store_it_started_in(ip, scripted, tmp_path):
    from fixtures.scripted import Stall

    go = threading.Event()
    halfway = Stall(until=go)
    scripted.model("fake", [f"{FENCE}css\n", halfway, f"a {{}}\n{FENCE}\n"])
    finished: list = []
    generating = threading.Thread(target=lambda: finished.append(scripted.wb.generate("Style it", model="fake")))
    generating.start()
    assert halfway.reached.wait(10)
    run_ok(ip, "%config Lfwb.db_path = 'other.db'")
    go.set()
    generating.join(10)
    assert [r.status for r in finished] == ["done"], finished
    with closing(sqlite3.connect(tmp_path / "lfwb.db")) as conn:
        assert conn.execute("SELECT kind, content FROM artifacts").fetchall() == [("css", "a {}\n")]
    assert scripted.wb.store.list_artifacts() == []
