from conftest import run_error, run_ok


def test_help_lists_subcommands(ip):
    rows = run_ok(ip, "%lfw help")
    names = {r["subcommand"] for r in rows}
    assert "%lfw project" in names and "%lfw context search" in names


def test_unknown_subcommand_is_one_line(ip, capsys):
    seen = run_error(ip, "%lfw projecs", capsys)
    assert "unknown subcommand 'projecs'" in seen and "'projects'" in seen
    assert len(seen.splitlines()) == 1
