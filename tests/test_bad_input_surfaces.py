"""Bad input on the surfaces added last, catalogued as tests/test_bad_input.py catalogues the
first ones: pipelines (definitions, `%lfw run` inputs, `--over` files, rerun), chat, export
(files and Framer), previews and `%lfw serve`. Each entry is one line for the user naming the
problem, no traceback, every table's row count unchanged, no file written, and a shell in which
`%lfw runs` still works."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import attempt, run_ok, symlink_out, table_counts
from fixtures.scripted import words
from test_bad_input import HUGE, Bad, files
from test_notebook_bad_input import BOMB

FENCE = "```"
ANSWER = (
    f'{FENCE}jsx title="Button.jsx"\nexport default function Button({{ label = "Buy" }}) {{\n'
    f'  return <button>{{label}}</button>;\n}}\n{FENCE}\n{FENCE}css title="styles.css"\nb {{}}\n{FENCE}\n'
)
STEP = '  - name: a\n    model: fake\n    prompt: "Describe {input}"\n'
DEEP_JSON = "[" * 60_000 + "]" * 60_000  # under the 128 KiB line cap, past json's recursion limit


def definition(*lines: str, steps: str = STEP) -> str:
    """A `%%lfw pipeline x` cell: the step(s), with `lines` added to the first one."""
    return "%%lfw pipeline x\nsteps:\n" + steps + "".join(f"    {line}\n" for line in lines)


def write(name: str, content: str | bytes) -> Callable:
    def setup(ip, wb, folder: Path) -> None:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))

    return setup


def names(**values) -> Callable:
    def setup(ip, wb, folder: Path) -> None:
        ip.user_ns.update(values)

    return setup


def artifact(name: str, content: str = "x\n", kind: str = "text") -> Callable:
    def setup(ip, wb, folder: Path) -> None:
        wb.store.add_artifact(wb.project_id, content, run_id=1, filename=name, kind=kind)

    return setup


def embeddings_off(ip, wb, folder: Path) -> None:
    ip.run_line_magic("config", "Lfwb.embeddings = False")


def both(*setups: Callable) -> Callable:
    def setup(ip, wb, folder: Path) -> None:
        for s in setups:
            s(ip, wb, folder)

    return setup


def port_taken(ip, wb, folder: Path) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    port_taken.sock = sock
    ip.user_ns["taken"] = sock.getsockname()[1]


def no_server(wb, folder: Path) -> None:
    from lfwb.server import background

    assert background.status() == {"running": False}
    if getattr(port_taken, "sock", None) is not None:
        port_taken.sock.close()
        port_taken.sock = None


def session_kept(wb, folder: Path) -> None:
    assert [(s["name"], s["messages"]) for s in wb.store.list_chat_sessions(wb.project_id)] == [("notes", 2)]


BIG = "x" * (256 * 1024)
PIPELINES = [
    # definitions: shape
    Bad("%%lfw pipeline x\n", "the cell body is empty"),
    Bad("%%lfw pipeline x\njust some text", "a pipeline is a mapping"),
    Bad("%%lfw pipeline x\n- a\n- b", "got a list"),
    Bad("%%lfw pipeline x\nsteps: []", "at least one step"),
    Bad("%%lfw pipeline x\nsteps: 5", "at least one step"),
    Bad("%%lfw pipeline x\nsteps:\n  - 5", "step 1 must be a mapping"),
    Bad("%%lfw pipeline x\nstpes:\n" + STEP, "did you mean 'steps'"),
    Bad("%%lfw pipeline x\ndescription: 5\nsteps:\n" + STEP, "description must be text"),
    Bad("%%lfw pipeline x\nname: y\nsteps:\n" + STEP, "make the two agree"),
    Bad("%%lfw pipeline ../x\nsteps:\n" + STEP, "use letters, digits"),
    Bad(f"%%lfw pipeline {'x' * 101}\nsteps:\n" + STEP, "use letters, digits"),
    Bad("%%lfw pipeline\nsteps:\n" + STEP, "required: name"),
    Bad("%lfw pipeline x", "takes a cell body"),
    # definitions: steps
    Bad(definition(steps="  - model: fake\n    prompt: hi\n"), "step 1 needs a name"),
    Bad(definition(steps="  - name: 1a\n    model: fake\n    prompt: hi\n"), "step 1 needs a name"),
    Bad(definition(steps="  - name: a b\n    model: fake\n    prompt: hi\n"), "step 1 needs a name"),
    Bad(definition("promt: hi"), "did you mean 'prompt'"),
    Bad(definition(steps="  - name: a\n    prompt: hi\n"), "`model:` must be a model"),
    Bad(definition(steps="  - name: a\n    model: 5\n    prompt: hi\n"), "`model:` must be a model"),
    Bad(definition(steps="  - name: a\n    model: []\n    prompt: hi\n"), "`model:` must be a model"),
    Bad(definition(steps="  - name: a\n    model: ['']\n    prompt: hi\n"), "`model:` must be a model"),
    Bad(definition(steps="  - name: a\n    model: fake\n"), "`prompt:` must be non-empty text"),
    Bad(definition(steps="  - name: a\n    model: fake\n    prompt: '  '\n"), "`prompt:` must be non-empty text"),
    Bad(definition(steps="  - name: a\n    model: fake\n    prompt: !!binary aGk=\n"), "`prompt:` must be non-empty"),
    Bad(definition("depends_on: nosuch"), "depends_on 'nosuch', which is not a step"),
    Bad(definition("depends_on: 5"), "`depends_on:` must be a list"),
    Bad(definition("depends_on: [a]"), "depends on itself"),
    Bad(definition(steps=STEP + STEP), "two steps are named 'a'"),
    Bad(
        definition(
            steps="  - name: a\n    model: fake\n    prompt: '{steps.b.output}'\n"
            "  - name: b\n    model: fake\n    prompt: '{steps.a.output}'\n"
        ),
        "form a cycle",
    ),
    Bad(definition(steps="  - name: a\n    model: fake\n    prompt: '{steps.zz.output}'\n"), "names no step 'zz'"),
    Bad(definition(steps="  - name: a\n    model: fake\n    prompt: '{steps.a.foo}'\n"), "is not a step field"),
    Bad(definition(steps="  - name: a\n    model: nosuch\n    prompt: hi\n"), "no model named 'nosuch'"),
    Bad(
        "%lfw run ctx",
        "no context named 'missing'",
        lambda ip, wb, folder: run_ok(
            ip, "%%lfw pipeline ctx\nsteps:\n  - {name: a, model: fake, prompt: '{context:missing}'}"
        ),
    ),
    # definitions: settings
    Bad(definition("temperature: hot"), "settings must be numbers"),
    Bad(definition("temperature: 5"), "temperature must be between 0 and 2"),
    Bad(definition("temperature: .nan"), "temperature must be between 0 and 2"),
    Bad(definition("max_tokens: 0"), "max tokens must be a whole number"),
    Bad(definition(f"max_tokens: {HUGE}"), "max tokens must be a whole number"),
    Bad(definition("max_tokens: 1e400"), "max tokens must be a whole number"),
    Bad(definition("seed: -1"), "a seed is a whole number"),
    Bad(definition("top_p: 0"), "top-p must be in (0, 1]"),
    Bad(definition("top_k: -1"), "top-k must be a whole number"),
    Bad(definition("stop: ''"), "stop string must be non-empty"),
    Bad(definition("repeat_penalty: 0"), "repeat penalty"),
    Bad(definition("system: 5"), "`system:` must be text"),
    # definitions: YAML itself
    Bad("%%lfw pipeline x\nsteps: [", "not valid YAML"),
    Bad("%%lfw pipeline x\nsteps:\n\t- name: a", "not valid YAML"),
    Bad("%%lfw pipeline x\n---\nsteps: []\n---\nsteps: []", "not valid YAML"),
    Bad("%%lfw pipeline x\nsteps: !!python/object:os.system {}", "not valid YAML"),
    Bad("%%lfw pipeline x\ndescription: &d hi\nsteps:\n" + STEP, "anchors and aliases"),
    Bad(definition(steps="  - &s\n    name: a\n    model: fake\n    prompt: hi\n  - *s\n"), "anchors and aliases"),
    Bad(definition(steps="  - name: a\n    model: fake\n    prompt: hi\n  - <<: *s\n    name: b\n"), "not taken"),
    Bad("%%lfw pipeline x\n" + BOMB, "anchors and aliases"),
    Bad("%%lfw pipeline x\n" + "[" * 5000 + "]" * 5000, "nests deeper than 32 levels"),
    Bad("%%lfw pipeline x\n" + "{a: " * 5000 + "1" + "}" * 5000, "nests deeper than 32 levels"),
    Bad("%%lfw pipeline x\n" + "".join(" " * i + "a:\n" for i in range(300)), "nests deeper than 32 levels"),
    Bad(f"%%lfw pipeline x\nsteps:\n{STEP}# {BIG}", "at most 262144 are taken"),
    # definitions from files
    Bad("%lfw pipeline load missing.yaml", "no file at missing.yaml"),
    Bad("%lfw pipeline load notadb.txt", "is not a .yaml or .yml file", files),
    Bad("%lfw pipeline load big.yaml", "a definition may be at most 262144", write("big.yaml", f"# {BIG}\n")),
    Bad("%lfw pipeline load latin.yaml", "not UTF-8", write("latin.yaml", "description: caf\xe9".encode("latin-1"))),
    Bad("%lfw pipeline load bomb.yaml", "anchors and aliases", write("bomb.yaml", BOMB)),
    Bad("%lfw pipeline load surrogate.yaml", "not UTF-8", write("surrogate.yaml", "description: caf\ud800")),
    Bad("%lfw pipeline show nosuch", "nosuch"),
    Bad("%lfw pipeline show p --version 9", "has versions 1 to 1, not 9"),
    Bad("%lfw pipeline show p --version 0", "must be at least 1"),
    Bad("%lfw pipeline show ui-component --version 1", "no saved versions"),
    # %lfw run
    Bad("%lfw run nosuch", "nosuch"),
    Bad("%lfw run", "required: name"),
    Bad("%lfw run ../../etc/passwd", "etc/passwd"),
    Bad("%lfw run 'steps: []'", "at least one step"),
    Bad("%lfw run p --input x -i y", "not both"),
    Bad("%lfw run p -i missing", "no variable named 'missing'"),
    Bad("%lfw run p --max-tokens 0", "must be at least 1"),
    Bad("%lfw run p --max-tokens abc", "invalid int value"),
    Bad(f"%lfw run p --max-tokens {HUGE}", "must be at most"),
    Bad("%lfw run p --temperature 9", "temperature must be between 0 and 2"),
    Bad("%lfw run p --temperature nan", "temperature must be between 0 and 2"),
    Bad("%lfw run p --seed -1", "a seed is a whole number"),
    Bad(f"%lfw run p --seed {HUGE}", "a seed is a whole number"),
    Bad("%lfw run p --concurrency 2", "--concurrency is for a batch"),
    Bad("%lfw run p -o In", "keeps that name"),
    Bad("%lfw run p -o __class__", "keeps that name"),
    Bad("%lfw run p -o 1x", "-o needs a variable name"),
    Bad("%lfw run p --input {bad}", "lone surrogate", names(bad="\ud800")),
    Bad("%lfw run p -i bad", "lone surrogate", names(bad="caf\udcff")),
    Bad("%lfw run p --bogus", "unrecognized arguments: --bogus"),
    Bad("%lfw run p --input 'unclosed", "check the quoting"),
    # --over
    Bad("%lfw run p --over missing.csv", "no variable of that name"),
    Bad("%lfw run p --over nocol.csv", "has no `input` column", write("nocol.csv", "id,text\n1,a\n")),
    Bad("%lfw run p --over header.csv", "holds no inputs", write("header.csv", "id,input\n")),
    Bad("%lfw run p --over blank.csv", "has no `input` column", write("blank.csv", "")),
    Bad("%lfw run p --over big.csv", "line 3", write("big.csv", f'input\nok\n"{BIG}x"\n')),
    Bad("%lfw run p --over open.csv", "line 2: not valid CSV", write("open.csv", 'input\n"a form\nb\n')),
    Bad("%lfw run p --over quote.csv", "not valid CSV", write("quote.csv", 'input\n"a" form\n')),
    Bad("%lfw run p --over latin.csv", "not UTF-8", write("latin.csv", "input\ncaf\xe9\n".encode("latin-1"))),
    Bad("%lfw run p --over bad.jsonl", "line 2: not JSON", write("bad.jsonl", '"ok"\n{not json\n')),
    Bad("%lfw run p --over deep.jsonl", "line 1: not JSON", write("deep.jsonl", DEEP_JSON + "\n")),
    Bad("%lfw run p --over long.jsonl", "line 1: over 131072 characters", write("long.jsonl", f'"{BIG}"\n')),
    Bad("%lfw run p --over obj.jsonl", 'without an "input" key', write("obj.jsonl", '{"text": "a"}\n')),
    Bad("%lfw run p --over sur.jsonl", "lone surrogate", write("sur.jsonl", '"ok"\n"caf\\ud800"\n')),
    Bad("%lfw run p --over empty.jsonl", "holds no inputs", write("empty.jsonl", "\n\n")),
    Bad("%lfw run p --over image.png", "not UTF-8", files),
    Bad("%lfw run p --over folder", "no file at", write("folder/x", "")),
    Bad("%lfw run p --over empty", "holds no inputs", names(empty=[])),
    Bad("%lfw run p --over d", "is a dict, not a list", names(d={"input": "a"})),
    Bad("%lfw run p --over s", "is a str, not a list", names(s="a form")),
    Bad("%lfw run p --over n", "is a int, not a list", names(n=5)),
    Bad("%lfw run p --over l", 'without an "input" key', names(l=["a", {"text": "b"}])),
    Bad("%lfw run p --over l", "lone surrogate", names(l=["a", "b\ud800"])),
    Bad("%lfw run p --over l --concurrency 0", "must be at least 1", names(l=["a"])),
    Bad(f"%lfw run p --over l --concurrency {HUGE}", "must be at most", names(l=["a"])),
    Bad("%lfw run p --over l --input x", "not both", names(l=["a"])),
    Bad("%lfw run p --over l -o Out", "keeps that name", names(l=["a"])),
    # rerun and timeline
    Bad("%lfw rerun 999", "no run with id 999"),
    Bad("%lfw rerun 1", "not a pipeline run"),
    Bad("%lfw rerun 2 --from nosuch", "has no step 'nosuch'"),
    Bad("%lfw rerun 0", "must be at least 1"),
    Bad(f"%lfw rerun {HUGE}", "must be at most"),
    Bad("%lfw rerun abc", "invalid int value"),
    Bad("%lfw rerun 2 -o get_ipython", "keeps that name"),
    Bad("%lfw timeline 999", "no run with id 999"),
]

CHAT = [
    Bad("%%lfw chat\n", "the cell body is empty"),
    Bad("%%lfw chat\n   \n\t", "the message is empty"),
    Bad("%%lfw chat --session notes --new\n \n", "the message is empty", check=session_kept),
    Bad("%%lfw chat -m nosuch\nHi", "no model named 'nosuch'"),
    Bad("%%lfw chat --session ''\nHi", "a chat session needs a name"),
    Bad("%%lfw chat --session '   '\nHi", "a chat session needs a name"),
    Bad("%%lfw chat --system ''\nHi", "the system prompt is empty"),
    Bad("%%lfw chat --max-tokens 0\nHi", "max tokens must be a whole number"),
    Bad("%%lfw chat --max-tokens -5\nHi", "max tokens must be a whole number"),
    Bad(f"%%lfw chat --max-tokens {HUGE}\nHi", "max tokens must be a whole number"),
    Bad("%%lfw chat --max-tokens abc\nHi", "invalid int value"),
    Bad("%%lfw chat --temperature 3\nHi", "temperature must be between 0 and 2"),
    Bad("%%lfw chat --temperature nan\nHi", "temperature must be between 0 and 2"),
    Bad("%%lfw chat --seed -1\nHi", "a seed is a whole number"),
    Bad(f"%%lfw chat --seed {HUGE}\nHi", "a seed is a whole number"),
    Bad("%%lfw chat --mode bogus\nHi", "invalid choice: 'bogus'"),
    Bad("%%lfw chat --rag --mode vector\nHi", "embeddings", embeddings_off),
    Bad("%%lfw chat --rag --mode hybrid\nHi", "embeddings", embeddings_off),
    Bad("%%lfw chat\nSay {bad}", "lone surrogate", names(bad="\ud800")),
    Bad("%%lfw chat --system {bad}\nHi", "lone surrogate", names(bad="\udc80")),
    Bad("%%lfw chat --session {bad}\nHi", "lone surrogate", names(bad="n\ud800")),
    Bad("%%lfw chat --session notes --new\nSay {bad}", "lone surrogate", names(bad="\ud800"), check=session_kept),
    Bad("%%lfw chat --bogus\nHi", "unrecognized arguments: --bogus"),
    Bad("%lfw chat", "takes a cell body"),
    Bad("%lfw chat history --session nosuch", "no chat session 'nosuch'"),
    Bad("%lfw chat delete nosuch", "no chat session 'nosuch'"),
    Bad("%lfw chat delete", "required: name"),
    Bad("%lfw chat sessions --bogus", "unrecognized arguments: --bogus"),
    Bad("%%lfw chat sessions\nbody", "takes no cell body"),
]

EXPORT = [
    Bad("%lfw export files 1 --to out", "already exists — add --force", write("out/Button.jsx", "mine\n")),
    Bad("%lfw export files 1 --to out", "over 255 bytes", artifact("x" * 300 + ".py")),
    Bad("%lfw export files 1 --to out", "over 255 bytes", artifact("src/" + "é" * 130 + ".py")),
    Bad("%lfw export files 1 --to /proc/self", "nothing was written"),
    Bad("%lfw export files 1 --to notadb.txt", "is a file, not a folder", files),
    Bad("%lfw export files 1 --to out", "is a file, not a folder", both(artifact("a/b.txt"), write("out/a", ""))),
    Bad("%lfw export files 1 --to out", "would both be written", artifact("button.jsx")),
    Bad(f"%lfw export files 1 --to {'d' * 300}", "over 255 bytes"),
    Bad(f"%lfw export files 1 --to out/{'d' * 300}/x", "over 255 bytes"),
    Bad("%lfw export files 1 --to out", "names no file", artifact(".")),
    Bad("%lfw export files 1 --to out", "'..' would leave the folder", artifact("a/../../x.js")),
    Bad("%lfw export files 1 --to out", "a drive letter", artifact("C:\\x.js")),
    Bad("%lfw export files 1 --to out", "an absolute path", artifact("/etc/x.js")),
    Bad("%lfw export files 1 --to out", "NUL", artifact("evil\x00.js")),
    Bad(
        "%lfw export files 1 --to out",
        "a symlink in it points out",
        both(lambda ip, wb, folder: symlink_out(folder), artifact("link/x.js")),
    ),
    Bad("%lfw export files 1 --to out", "a folder of that name", write("out/Button.jsx/keep", "")),
    Bad("%lfw export files 0 --to out", "must be at least 1"),
    Bad("%lfw export files abc --to out", "invalid int value"),
    Bad("%lfw export files 999 --to out", "no run with id 999"),
    Bad("%lfw export files 2 --to out", "run 2 has no artifacts"),
    Bad("%lfw export files 1", "required: --to"),
    Bad("%lfw export files 1 --to out --bogus", "unrecognized arguments: --bogus"),
    Bad("%lfw export framer 999 --to C.tsx", "no artifact with id 999"),
    Bad("%lfw export framer 2 --to C.tsx", "not a JSX/TSX component"),
    Bad("%lfw export framer 1 --to C.tsx", "already exists — add --force", write("C.tsx", "mine\n")),
    Bad("%lfw export framer 1 --to /tmp/lfwb-elsewhere/C.tsx", "outside the working folder"),
    Bad("%lfw export framer 1 --to sub", "is a folder", write("sub/keep", "")),
    Bad(f"%lfw export framer 1 --to {'c' * 300}.tsx", "over 255 bytes"),
    Bad("%lfw export framer 1 --to /proc/self/C.tsx --force", "nothing was written"),
    Bad("%lfw export framer 1", "required: --to"),
    Bad("%lfw export framer 0 --to C.tsx", "must be at least 1"),
]

PREVIEW = [
    Bad("%%lfw jsx\n", "the cell body is empty"),
    Bad("%%lfw jsx\n// nothing\n", "has no default export"),
    Bad("%%lfw jsx\nconst x = 1", "has no default export"),
    Bad('%%lfw jsx\nimport _ from "lodash"\nexport default () => <b/>', "imports 'lodash'"),
    Bad('%%lfw jsx\nimport x from "./x"\nexport default () => <b/>', "imports './x'"),
    Bad('%%lfw jsx\nconst fs = require("fs")\nexport default () => <b/>', "imports 'fs'"),
    Bad('%%lfw jsx\nconst m = import("https://evil.example/x.js")\nexport default () => <b/>', "imports 'https:"),
    Bad(f"%%lfw jsx\nexport default () => <b/>\n// {'x' * 200_001}", "a component may be at most 200 kB"),
    Bad("%%lfw jsx --props '{bad'\nexport default () => <b/>", "--props needs a JSON object"),
    Bad("%%lfw jsx --props '[1, 2]'\nexport default () => <b/>", "--props needs a JSON object"),
    Bad("%%lfw jsx --props '\"text\"'\nexport default () => <b/>", "--props needs a JSON object"),
    Bad("%%lfw jsx --props 5\nexport default () => <b/>", "--props needs a JSON object"),
    Bad(
        "%%lfw jsx --props '{deep}'\nexport default () => <b/>",
        "--props needs a JSON object",
        names(deep='{"a": ' + "[" * 60_000 + "]" * 60_000 + "}"),
    ),
    Bad('%%lfw jsx --props \'{"a": "\\ud800"}\'\nexport default () => <b/>', "lone surrogate"),
    Bad("%%lfw jsx --name {bad}\nexport default () => <b/>", "lone surrogate", names(bad="n\ud800")),
    Bad("%%lfw jsx --height 10\nexport default () => <b/>", "--height is in pixels, between 40 and 4000"),
    Bad("%%lfw jsx --height 5000\nexport default () => <b/>", "--height is in pixels, between 40 and 4000"),
    Bad("%%lfw jsx --height -1\nexport default () => <b/>", "--height is in pixels"),
    Bad(f"%%lfw jsx --height {HUGE}\nexport default () => <b/>", "--height is in pixels"),
    Bad("%%lfw jsx --height abc\nexport default () => <b/>", "invalid int value"),
    Bad("%lfw jsx", "takes a cell body"),
    Bad("%lfw preview 999", "no artifact with id 999"),
    Bad("%lfw preview 2", "not a JSX/TSX component"),
    Bad("%lfw preview 0", "must be at least 1"),
    Bad("%lfw preview abc", "invalid int value"),
    Bad("%lfw preview 1 --props '[1]'", "--props needs a JSON object"),
    Bad("%lfw preview 1 --height 1", "--height is in pixels"),
    Bad(
        "%lfw preview 3",
        "imports 'lodash'",
        artifact("Bad.jsx", 'import _ from "lodash"\nexport default () => <b/>', kind="jsx"),
    ),
]

SERVE = [
    Bad("%lfw serve --port 70000", "--port must be from 0 to 65535", check=no_server),
    Bad("%lfw serve --port -1", "--port must be from 0 to 65535", check=no_server),
    Bad(f"%lfw serve --port {HUGE}", "--port must be from 0 to 65535", check=no_server),
    Bad("%lfw serve --port abc", "invalid int value", check=no_server),
    Bad("%lfw serve --host 0.0.0.0 --port 0", "needs a token", check=no_server),
    Bad("%lfw serve --token short --port 0", "at least 8 characters", check=no_server),
    Bad("%lfw serve --stop --status", "not both", check=no_server),
    Bad("%lfw serve --host 203.0.113.7 --port 0 --token longenough", "not one of this machine's", check=no_server),
    Bad("%lfw serve --port {taken}", "the port is taken", port_taken, check=no_server),
    Bad("%lfw serve --bogus", "unrecognized arguments: --bogus", check=no_server),
]

CATALOGUE = PIPELINES + CHAT + EXPORT + PREVIEW + SERVE


def test_the_catalogue_of_the_new_surfaces_is_large():
    assert len(CATALOGUE) >= 150
    assert min(len(PIPELINES), len(CHAT), len(EXPORT), len(PREVIEW), len(SERVE)) >= 10


def files_in(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if not p.name.startswith("lfwb.db")}


@pytest.fixture
def workspace(ip, scripted):
    """Rows of every kind the catalogue may touch: run 1 (generate: Button.jsx, styles.css),
    pipeline p and its run 2, context `notes`, chat session `notes` (run 3)."""
    wb = scripted.wb
    scripted.model("coder", words(ANSWER))
    scripted.model("fake", words("Fine, thanks."))
    wb.generate("Write a button", model="coder")
    run_ok(ip, f"%%lfw pipeline p\nsteps:\n{STEP}")
    wb.run_pipeline("p", "a form")
    wb.add_context(text="notes about round blue buttons", name="notes")
    wb.chat("notes", model="fake").send("Hi")
    return wb


@pytest.mark.parametrize("bad", CATALOGUE, ids=[f"{i:03d}" for i in range(len(CATALOGUE))])
def test_bad_input_on_a_new_surface_is_one_line_stores_nothing_and_the_shell_works(
    ip, workspace, tmp_path, capsys, caplog, bad
):
    wb = workspace
    if bad.setup is not None:
        bad.setup(ip, wb, tmp_path)
    before, written = table_counts(wb.store.path), files_in(tmp_path)

    refused, seen = attempt(ip, bad.cell, capsys, caplog)

    try:
        assert refused, f"{bad.cell[:200]!r} was taken: {seen[:500]!r}"
        assert "Traceback" not in seen and len(seen.splitlines()) == 1, seen[:3000]
        assert bad.says in seen, seen[:1000]
        assert table_counts(wb.store.path) == before
        assert files_in(tmp_path) == written
    finally:
        if bad.check is not None:
            bad.check(wb, tmp_path)
    assert isinstance(run_ok(ip, "%lfw runs"), list)
