"""Framer export (lfwb/preview/framer.py, `%lfw export framer`): golden files in tests/golden/framer/
(NAME.input.jsx|tsx → NAME.framer.tsx). Regenerate one after a deliberate change with
`python -c "from lfwb.preview.framer import to_framer, component_name; ..."` and read the diff."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import ROOT, run_error, run_ok

from lfwb.errors import PreviewRefused
from lfwb.preview.framer import component_name, to_framer
from lfwb.preview.props import extract_props

GOLDEN = Path(__file__).parent / "golden" / "framer"
INPUTS = sorted(p for p in GOLDEN.iterdir() if ".input." in p.name)
SUCRASE = ROOT / "extension" / "node_modules" / "sucrase"


def exported(input_path: Path) -> str:
    return to_framer(input_path.read_text(), name=component_name(input_path.name.split(".")[0]))


def golden(input_path: Path) -> Path:
    return input_path.with_name(input_path.name.split(".")[0] + ".framer.tsx")


@pytest.mark.parametrize("input_path", INPUTS, ids=lambda p: p.name)
def test_each_component_exports_as_its_golden_framer_file(input_path):
    assert exported(input_path) == golden(input_path).read_text()


@pytest.mark.parametrize("input_path", INPUTS, ids=lambda p: p.name)
def test_exporting_an_export_again_changes_nothing(input_path):
    text = golden(input_path).read_text()
    assert to_framer(text) == text


@pytest.mark.parametrize("input_path", INPUTS, ids=lambda p: p.name)
def test_an_export_offers_the_props_the_component_had(input_path):
    before = [(p.name, p.kind, p.default, p.options) for p in extract_props(input_path.read_text())]
    after = [(p.name, p.kind, p.default, p.options) for p in extract_props(golden(input_path).read_text())]
    assert after == before and after


def test_the_goldens_cover_every_kind_of_control_and_both_languages():
    kinds = {p.kind for path in INPUTS for p in extract_props(path.read_text())}
    assert kinds == {"string", "number", "boolean", "color", "enum"}
    assert {p.suffix for p in INPUTS} == {".jsx", ".tsx"}


def test_every_golden_export_is_a_named_default_exported_function_with_annotations():
    for input_path in INPUTS:
        text = golden(input_path).read_text()
        name = component_name(input_path.name.split(".")[0])
        assert f"export default function {name}(" in text
        assert "@framerSupportedLayoutWidth any" in text and "@framerSupportedLayoutHeight any" in text
        assert f"addPropertyControls({name}, {{" in text
        assert "ControlType" in text.split('from "framer"')[0].rsplit("import", 1)[1]


@pytest.mark.skipif(
    shutil.which("node") is None or not SUCRASE.exists(), reason="needs node and extension/node_modules (make setup)"
)
def test_every_golden_export_transpiles_with_sucrase():
    script = (
        "const {transform} = require(process.argv[1]); const fs = require('fs');"
        "const out = {}; for (const f of process.argv.slice(2)) { try {"
        " transform(fs.readFileSync(f, 'utf8'), {transforms: ['typescript', 'jsx', 'imports'], filePath: f});"
        " out[f] = 'ok' } catch (e) { out[f] = e.message } }; console.log(JSON.stringify(out))"
    )
    files = [str(golden(p)) for p in INPUTS]
    done = subprocess.run(["node", "-e", script, str(SUCRASE), *files], capture_output=True, text=True, timeout=60)
    assert json.loads(done.stdout) == {f: "ok" for f in files}


def test_a_root_without_style_a_style_variable_and_a_set_position_are_each_handled():
    bare = to_framer("export default () => <section><p/></section>")
    assert '<section style={{ position: "relative" }}>' in bare
    assert 'style={{ position: "relative", ...s.card }}' in to_framer("export default () => <div style={s.card}/>")
    kept = to_framer('export default () => <div style={{ position: "absolute" }}/>')
    assert kept.count("position") == 1


def test_an_anonymous_component_takes_the_name_given_and_a_named_one_is_renamed():
    assert "export default function Component(" in to_framer("export default function () { return <b/> }")
    renamed = to_framer(
        "function Card() { return <b>Card</b> }\nCard.displayName = 'Card'\nexport default Card\n", name="promo card"
    )
    assert "export default function PromoCard()" in renamed
    assert "PromoCard.displayName = 'Card'" in renamed and ">Card</b>" in renamed
    assert "export default Card" not in renamed


@pytest.mark.parametrize(
    "source, says",
    [
        ('import x from "lodash"\nexport default () => <b/>', "imports 'lodash'"),
        (
            "import React from 'react'\nexport default class A extends React.Component { render() { return <b/> } }",
            "is a class component",
        ),
        ("export default 42", "default export is not a function component"),
        ("export default () => <p>" + "x" * 1_000_000 + "</p>", "at most 200 kB"),
    ],
)
def test_what_framer_cannot_take_is_refused_with_one_line(source, says):
    with pytest.raises(PreviewRefused) as e:
        to_framer(source)
    assert says in str(e.value) and "\n" not in str(e.value)


# -- %lfw export framer ------------------------------------------------------------------------


@pytest.fixture
def card(ip):
    """A stored TSX artifact, as a pipeline or %%lfw jsx would have kept it."""
    wb = ip.user_ns.get("_wb") or __import__("lfwb").workbench()
    run = wb.store.add_run(project_id=wb.project_id, kind="generate", model="fake", prompt="a card")
    source = (GOLDEN / "button.input.tsx").read_text()
    (row,) = wb.store.add_artifacts(
        wb.project_id, run["id"], [{"content": source, "kind": "tsx", "language": "tsx", "filename": "Button.tsx"}]
    )
    return row["id"]


def test_export_framer_writes_the_golden_file_into_the_working_folder(ip, card, tmp_path):
    rows = run_ok(ip, f"%lfw export framer {card} --to framer/Button.tsx")
    assert rows[0]["component"] == "Button"
    assert (tmp_path / "framer" / "Button.tsx").read_text() == (GOLDEN / "button.framer.tsx").read_text()


def test_export_framer_refuses_a_path_outside_the_working_folder_unless_forced(ip, card, tmp_path, capsys):
    outside = tmp_path.parent / f"{tmp_path.name}-outside.tsx"
    said = run_error(ip, f"%lfw export framer {card} --to {outside}", capsys)
    assert "outside the working folder" in said and "--force" in said and len(said.splitlines()) == 1
    assert not outside.exists()
    run_ok(ip, f"%lfw export framer {card} --to {outside} --force")
    assert "addPropertyControls(Button" in outside.read_text()
    outside.unlink()


def test_export_framer_does_not_overwrite_a_file_unless_forced(ip, card, tmp_path, capsys):
    (tmp_path / "Button.tsx").write_text("mine")
    said = run_error(ip, f"%lfw export framer {card} --to Button.tsx", capsys)
    assert "already exists" in said and (tmp_path / "Button.tsx").read_text() == "mine"
    run_ok(ip, f"%lfw export framer {card} --to Button.tsx --force")
    assert (tmp_path / "Button.tsx").read_text().startswith("import React")


def test_export_framer_of_a_missing_or_non_component_artifact_is_one_line(ip, card, tmp_path, capsys):
    assert "See %lfw artifacts" in run_error(ip, "%lfw export framer 999 --to X.tsx", capsys)
    wb = __import__("lfwb").workbench()
    run = wb.store.add_run(project_id=wb.project_id, kind="generate", model="fake", prompt="py")
    (row,) = wb.store.add_artifacts(wb.project_id, run["id"], [{"content": "print(1)\n", "kind": "python"}])
    assert "is python, not a JSX/TSX component" in run_error(ip, f"%lfw export framer {row['id']} --to X.tsx", capsys)
    assert not (tmp_path / "X.tsx").exists()
