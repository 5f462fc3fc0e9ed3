"""Hatch build hook: the JSX preview's bundle (lfwb/static/) is built into the wheel and sdist.

lfwb/static/ is git-ignored (built from extension/ by esbuild), so a plain `pip install .` or
`python -m build` from a fresh clone would ship a package whose previews refuse to run. This
hook builds it first when it is missing, as `make setup` does (`npm ci`, then `node
extension/build.mjs`), and again when it is older than its sources and node_modules is there
(no download); an sdist carries the built bundle, so installing from one needs no Node. An
editable install leaves it to `make setup` (and says so if it is missing).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

BUNDLE = ("runtime.js", "host.js", "motion.js")


class PreviewBundleHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        root = Path(self.root)
        extension, static = root / "extension", root / "lfwb" / "static"
        if not (extension / "build.mjs").exists():  # building a wheel from an sdist: the bundle came with it
            return
        missing = [name for name in BUNDLE if not (static / name).exists()]
        if not missing:
            # Rebuilt only where it costs no download (node_modules already there): an sdist's
            # bundle, or a checkout's after `make setup`, is otherwise taken as it is.
            if _stale(extension, static) and _installed(extension) and shutil.which("node"):
                self._build(extension, npm=None)
            return
        npm = shutil.which("npm")
        if version == "editable":  # `pip install -e .` (make setup builds the bundle right after)
            self.app.display_warning("lfwb: the preview bundle (lfwb/static/) is not built yet — run `make setup`")
            return
        if npm is None:
            raise RuntimeError(
                "lfwb: building the preview bundle (lfwb/static/) needs Node.js 18+ with npm on PATH — "
                "install it, or install lfwb from an sdist or a wheel, which carry the bundle"
            )
        self._build(extension, npm)

    def _build(self, extension: Path, npm: str | None) -> None:
        self.app.display_info("lfwb: building the preview bundle (extension/ → lfwb/static/)")
        if npm is not None and not _installed(extension):
            subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=extension, check=True)
        subprocess.run([shutil.which("node") or "node", "build.mjs"], cwd=extension, check=True)


def _sources(extension: Path) -> list[Path]:
    return [extension / "package.json", extension / "package-lock.json", extension / "build.mjs"] + sorted(
        (extension / "src").glob("*")
    )


def _stale(extension: Path, static: Path) -> bool:
    built = min((static / name).stat().st_mtime for name in BUNDLE)
    return any(p.stat().st_mtime > built for p in _sources(extension) if p.exists())


def _installed(extension: Path) -> bool:
    """node_modules is there and as new as the lock file (what `npm ci` would install)."""
    marker = extension / "node_modules" / ".package-lock.json"
    return marker.exists() and marker.stat().st_mtime >= (extension / "package-lock.json").stat().st_mtime
