"""Code artifacts: the fenced code blocks of a model's answer, kept as rows and written as files.

    >>> answer = 'Here it is:\\n```jsx title="Button.jsx"\\nexport default () => <button/>\\n```'
    >>> [(a.kind, a.filename) for a in extract_artifacts(answer)]
    [('jsx', 'Button.jsx')]
    >>> save_artifacts(store, run_id, project_id, answer)        # rows, once per content per run
    >>> export_files(store, run_id, "out/")                      # out/Button.jsx

How a block is read (a line scanner that follows CommonMark's fenced code blocks):

- A fence is three or more backticks or tildes, indented at most three spaces; it closes at a
  line of the same character, at least as long, with nothing after it. So a ```` fence holds
  ``` lines, a ~~~ fence holds ``` lines, and a fence never closed runs to the end of the
  answer (a model stopped by --max-tokens mid-block still leaves its code). A backtick fence
  whose info string holds a backtick is inline code, not a fence. Lists and block quotes are
  not parsed: a fence indented four spaces or more is not one.
- The kind is the fence's language, aliases folded (py → python, javascript → js, yml → yaml,
  ...). A block without a language takes the kind of its filename's extension, else "text":
  the content is never sniffed, so a `{steps.x.artifacts.jsx}` only ever holds code someone
  called JSX. A js/ts block named `*.jsx`/`*.tsx` is jsx/tsx.
- The filename comes, first found first, from the info string (`jsx title="Button.jsx"`,
  `jsx Button.jsx`, `jsx:Button.jsx`, or just `Button.jsx`), a first line `// file: NAME`,
  `# file: NAME`, `/* file: NAME */` or `<!-- file: NAME -->` (kept in the content: it is a
  comment in its language), or a line before the fence that is only a filename
  (`**Button.jsx**`, `### src/Button.jsx`, `` `Button.jsx`: ``).
- Blocks with only blank lines are skipped; trailing blank lines are dropped. One content is
  one artifact per run (the first block keeps its name); a second block with a name already
  used in the run is named `Button-2.jsx` (the store's `distinct_filename`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ..errors import BadInput
from ..store.store import Store, content_hash, distinct_filename

# Fence language (lowercase) → kind. A word not listed is its own kind.
ALIASES = {
    "javascript": "js",
    "node": "js",
    "mjs": "js",
    "cjs": "js",
    "es6": "js",
    "typescript": "ts",
    "mts": "ts",
    "cts": "ts",
    "javascriptreact": "jsx",
    "react": "jsx",
    "typescriptreact": "tsx",
    "py": "python",
    "py3": "python",
    "python3": "python",
    "htm": "html",
    "xhtml": "html",
    "jsonc": "json",
    "json5": "json",
    "yml": "yaml",
    "sh": "bash",
    "shell": "bash",
    "zsh": "bash",
    "md": "markdown",
    "txt": "text",
    "plaintext": "text",
    "plain": "text",
    "none": "text",
    "rs": "rust",
    "golang": "go",
    "rb": "ruby",
    "kt": "kotlin",
    "c++": "cpp",
    "cs": "csharp",
}
# Kind → file extension, for an artifact exported without a name.
EXTENSIONS = {
    "python": "py",
    "bash": "sh",
    "markdown": "md",
    "text": "txt",
    "rust": "rs",
    "ruby": "rb",
    "kotlin": "kt",
    "csharp": "cs",
    "yaml": "yaml",
}

_ATTRIBUTE = re.compile(r"""(\w+)\s*=\s*(?:"([^"]*)"|'([^']*)'|(\S+))""")
_NAME_ATTRIBUTES = {"title", "file", "filename", "name", "path"}
_FILENAME = re.compile(r"[\w@~+-][\w@~+./\\-]*\.[A-Za-z][\w]*")
_FIRST_LINE_NAME = re.compile(r"\s*(?://|#|/\*|<!--|--)\s*(?:file|filename|path)\s*:\s*(\S+?)\s*(?:\*/|-->)?\s*", re.I)
_LINE_BEFORE_NAME = re.compile(
    r"\s*(?:#{1,6}\s+|[-*+]\s+|\d+[.)]\s+)?[*_`]*(?:file(?:name)?\s*:\s*)?[*_`]*"
    r"(" + _FILENAME.pattern + r")[*_`]*\s*:?\s*[*_`]*",
    re.I,
)


@dataclass(frozen=True)
class Artifact:
    """One fenced code block: what it holds and what it is called."""

    content: str
    kind: str  # the normalised language: "jsx", "python", "css", ... or "text"
    language: str | None  # the fence's language as the model wrote it (lowercase), if any
    filename: str | None
    line: int  # 1-based line of the opening fence in the answer
    closed: bool = True  # False: the fence ran to the end of the answer

    @property
    def sha256(self) -> str:
        return content_hash(self.content)

    def row(self) -> dict:
        """The `artifacts` columns this artifact fills."""
        return {"content": self.content, "kind": self.kind, "language": self.language, "filename": self.filename}


def normalise_language(word: str | None) -> str | None:
    """The kind for a fence language or file extension: `"Py"` → `"python"`, `"jsx"` → `"jsx"`."""
    if not word:
        return None
    word = word.strip().lower().removeprefix("language-").lstrip(".")
    return ALIASES.get(word, word) or None


def extract_artifacts(text: str) -> list[Artifact]:
    """The fenced code blocks of `text`, in order, one per content (see the module docstring)."""
    lines = (text or "").splitlines()
    found: list[Artifact] = []
    seen: set[str] = set()
    taken: set[str | None] = set()
    i = 0
    while i < len(lines):
        fence = _opening_fence(lines[i])
        if fence is None:
            i += 1
            continue
        indent, char, length, info = fence
        body, j, closed = [], i + 1, False
        while j < len(lines):
            if _closes(lines[j], char, length):
                closed = True
                break
            body.append(_dedent(lines[j], indent))
            j += 1
        artifact = _artifact(info, body, _line_before(lines, i), line=i + 1, closed=closed)
        if artifact is not None and artifact.sha256 not in seen:
            seen.add(artifact.sha256)
            if artifact.filename:
                name = distinct_filename(artifact.filename, taken)
                taken.add(name)
                artifact = Artifact(**{**artifact.__dict__, "filename": name})
            found.append(artifact)
        i = j + 1
    return found


def _opening_fence(line: str) -> tuple[int, str, int, str] | None:
    """(indent, fence character, fence length, info string) when `line` opens a fence."""
    rest = line.lstrip(" ")
    indent = len(line) - len(rest)
    if indent > 3 or rest[:1] not in ("`", "~"):
        return None
    char = rest[0]
    length = len(rest) - len(rest.lstrip(char))
    info = rest[length:].strip()
    if length < 3 or (char == "`" and "`" in info):
        return None
    return indent, char, length, info


def _closes(line: str, char: str, length: int) -> bool:
    rest = line.lstrip(" ")
    if len(line) - len(rest) > 3:
        return False
    run = len(rest) - len(rest.lstrip(char))
    return run >= length and not rest[run:].strip(" \t")


def _dedent(line: str, indent: int) -> str:
    # CommonMark: a fence indented N spaces takes up to N spaces off each of its lines.
    rest = line.lstrip(" ")
    return line[min(indent, len(line) - len(rest)) :]


def _line_before(lines: list[str], i: int) -> str:
    for line in reversed(lines[max(0, i - 2) : i]):
        if line.strip():
            return line
    return ""


def _artifact(info: str, body: list[str], before: str, line: int, closed: bool) -> Artifact | None:
    while body and not body[-1].strip():
        body.pop()
    if not any(part.strip() for part in body):
        return None
    language, filename = _read_info(info)
    if filename is None:
        first = next(part for part in body if part.strip())
        match = _FIRST_LINE_NAME.fullmatch(first)
        filename = match.group(1) if match else None
    if filename is None:
        match = _LINE_BEFORE_NAME.fullmatch(before)
        filename = match.group(1) if match else None
    kind = normalise_language(language)
    by_name = normalise_language(PurePosixPath(filename).suffix) if filename else None
    if kind in (None, "text") or (kind, by_name) in (("js", "jsx"), ("ts", "tsx")):
        kind = by_name or kind
    return Artifact("\n".join(body) + "\n", kind or "text", language, filename, line, closed)


def _read_info(info: str) -> tuple[str | None, str | None]:
    """(language as written, filename) from a fence's info string."""
    filename = None
    for match in _ATTRIBUTE.finditer(info):
        if match.group(1).lower() in _NAME_ATTRIBUTES and filename is None:
            filename = next(g for g in match.groups()[1:] if g is not None) or None
    words = _ATTRIBUTE.sub(" ", info).replace("{", " ").replace("}", " ").split()
    language = words[0].lstrip(".").lower() if words else None
    if language and ":" in language and _FILENAME.fullmatch(language.split(":", 1)[1]):
        language, filename = language.split(":", 1)[0], filename or words[0].split(":", 1)[1]
    elif language and _FILENAME.fullmatch(words[0]):
        filename, language = filename or words[0], None
    if filename is None and len(words) > 1 and _FILENAME.fullmatch(words[1]):
        filename = words[1]
    return language or None, filename


# -- storing -----------------------------------------------------------------------------


def save_artifacts(store: Store, run_id: int, project_id: int, text: str) -> list[dict]:
    """Extract `text`'s artifacts and keep them as `run_id`'s; returns the rows added.

    Content the run already has is not added again, and a name the run already uses gets a
    distinct one, both checked in the store's write transaction (pipeline steps of one run may
    save at the same time).
    """
    return store.add_artifacts(project_id, run_id, [a.row() for a in extract_artifacts(text)])


# -- writing files -----------------------------------------------------------------------


MAX_NAME_BYTES = 255  # a file or folder name on every common file system


def too_long(name: str) -> bool:
    """Is `name` (one file or folder name, not a path) over MAX_NAME_BYTES as the file system stores it?"""
    return len(os.fsencode(name)) > MAX_NAME_BYTES


def export_files(store: Store, run_id: int, folder: str | os.PathLike, force: bool = False) -> list[dict]:
    """Write run `run_id`'s artifacts into `folder` (created if missing), oldest first.

    Every target is checked before anything is written: a name that would leave `folder` (`..`,
    an absolute path, a drive letter, a NUL, a symlink inside `folder` that points out), a name
    over 255 bytes, a file already there (unless `force`), a folder that cannot be made or
    written. Then each file is written beside its target and renamed into place once all are
    written, so a failure midway (a full disk, /proc) leaves nothing either. One line when
    refused. An unnamed artifact is written as `artifact-ID.EXT`. Returns one row per file:
    artifact id, path, bytes.
    """
    store.get_run(run_id)  # an unknown run is NotFound, not "no artifacts"
    rows = sorted(store.list_artifacts(run_id=run_id), key=lambda r: r["id"])
    if not rows:
        raise BadInput(f"run {run_id} has no artifacts — nothing was written")
    return write_all(plan_export(rows, folder, force=force), Path(folder).expanduser())


def write_all(plan: list[tuple[dict, Path]], folder: Path) -> list[dict]:
    """Write each planned file, or none: staged beside its target, renamed into place at the end."""
    made: list[Path] = []  # folders this export made, removed again if it fails
    staged: list[tuple[Path, Path]] = []
    target = folder
    try:
        for parent in reversed([folder, *folder.parents]):
            if not parent.exists():
                parent.mkdir()
                made.append(parent)
        for number, (row, target) in enumerate(plan):
            for parent in reversed(list(target.relative_to(folder).parents)[:-1]):
                if not (folder / parent).exists():
                    (folder / parent).mkdir()
                    made.append(folder / parent)
            temporary = target.with_name(f".lfwb-export-{os.getpid()}-{number}.tmp")
            # O_NOFOLLOW and O_EXCL: nothing put in place since the check is followed or reused.
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
            staged.append((temporary, target))
            with os.fdopen(fd, "wb") as f:
                f.write(row["content"].encode("utf-8", "surrogatepass"))
        for temporary, target in staged:
            os.replace(temporary, target)
    except OSError as e:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        for parent in reversed(made):
            try:
                parent.rmdir()
            except OSError:
                pass
        raise BadInput(f"cannot write {target}: {e.strerror or e} — nothing was written") from None
    return [{"id": row["id"], "path": str(target), "bytes": target.stat().st_size} for row, target in plan]


def plan_export(rows: list[dict], folder: str | os.PathLike, force: bool = False) -> list[tuple[dict, Path]]:
    """Where each artifact would be written in `folder`; `BadInput` for the first target that may
    not be written there. Touches nothing."""
    folder = Path(folder).expanduser()
    check_folder(folder)
    root = folder.resolve()
    plan: list[tuple[dict, Path]] = []
    targets: dict[str, int] = {}
    for row in rows:
        name = row["filename"] or f"artifact-{row['id']}.{extension(row['kind'])}"
        target = folder.joinpath(*safe_parts(name, row["id"], folder))
        if not target.resolve().is_relative_to(root):
            raise _refused(row["id"], name, folder, "a symlink in it points out of the folder")
        if target.is_dir():
            raise _refused(row["id"], name, folder, "a folder of that name is already there")
        if (target.exists() or target.is_symlink()) and not force:
            raise BadInput(f"{target} already exists — add --force to replace it; nothing was written")
        key = str(target).casefold()  # Button.jsx and button.jsx are one file on macOS and Windows
        if key in targets:
            raise BadInput(
                f"artifacts {targets[key]} and {row['id']} would both be written to {target} — nothing was written"
            )
        targets[key] = row["id"]
        plan.append((row, target))
    for row, target in plan:
        for parent in list(target.relative_to(folder).parents)[:-1]:
            if (folder / parent).exists() and not (folder / parent).is_dir():
                raise _refused(row["id"], row["filename"], folder, f"{folder / parent} is a file, not a folder")
            if str(folder / parent).casefold() in targets:
                raise _refused(row["id"], row["filename"], folder, f"another artifact is written to {folder / parent}")
    return plan


def check_folder(folder: Path) -> None:
    """`folder` is, or can be made as, a folder this process may write in."""
    if "\x00" in str(folder):
        raise BadInput("the folder's name holds a NUL character — nothing was written")
    long = [part for part in folder.parts if too_long(part)]
    if long:
        raise BadInput(f"the folder name {long[0][:40]!r}… is over {MAX_NAME_BYTES} bytes — nothing was written")
    if folder.exists() and not folder.is_dir():
        raise BadInput(f"{folder} is a file, not a folder — give a folder to write into")
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise BadInput(f"{existing} is a file, not a folder — nothing was written")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"cannot write in {existing}: permission denied — nothing was written")


def safe_parts(name: str, artifact_id: int, folder: Path) -> list[str]:
    """The path components of `name` inside a folder; `BadInput` when it would leave it."""
    if "\x00" in name:
        raise _refused(artifact_id, name, folder, "it holds a NUL character")
    unified = name.replace("\\", "/")  # a Windows-style name means the same folders
    if unified.startswith("/"):
        raise _refused(artifact_id, name, folder, "it is an absolute path")
    if re.match(r"[A-Za-z]:", unified):
        raise _refused(artifact_id, name, folder, "it starts with a drive letter")
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _refused(artifact_id, name, folder, "'..' would leave the folder")
    if not parts:
        raise _refused(artifact_id, name, folder, "it names no file")
    for part in parts:
        if too_long(part):
            raise _refused(artifact_id, name, folder, f"a name in it is over {MAX_NAME_BYTES} bytes")
    return parts


def extension(kind: str | None) -> str:
    """The file extension for a kind: python → py, jsx → jsx."""
    return EXTENSIONS.get(kind or "text", kind if kind and kind.isalnum() else "txt")


def _refused(artifact_id: int, name: str, folder: Path, why: str) -> BadInput:
    shown = repr(name) if len(name) <= 80 else repr(name[:60]) + "…"
    return BadInput(
        f"artifact {artifact_id} is named {shown}, which may not be written in {folder}: {why} — nothing was written"
    )
