"""The magic reference in the docs is what `%lfw SUB --help` prints, for every subcommand."""

from __future__ import annotations

import importlib.util

from conftest import ROOT


def _hooks():
    spec = importlib.util.spec_from_file_location("lfwb_docs_hooks", ROOT / "docs" / "hooks" / "lfwb_docs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_magic_reference_holds_each_subcommands_own_help(ip, capsys):
    from lfwb.magics import SUBCOMMANDS

    page = _hooks().magic_reference()
    for name in SUBCOMMANDS:
        capsys.readouterr()
        ip.run_line_magic("lfw", f"{name} --help")
        printed = capsys.readouterr().out.strip()
        assert printed.startswith(f"usage: %lfw {name}"), printed
        assert f"```text\n{printed}\n```" in page, f"the page's help for %lfw {name} is not what it prints"
    headings = [line for line in page.splitlines() if line.startswith("## ")]
    assert len(headings) == len(SUBCOMMANDS)


def test_the_http_reference_lists_every_route_of_the_app():
    hooks = _hooks()
    schema = hooks.openapi_schema()
    page = hooks.http_reference(schema)
    for path, item in schema["paths"].items():
        for method in item:
            assert f"## `{method.upper()} {path}`" in page
