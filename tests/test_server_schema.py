"""lfwb serve checked against its own OpenAPI schema by schemathesis: every check, every operation."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fixtures.scripted import words

# A request the schema allows may still break a rule no schema can state (a pipeline's YAML, a
# runtime that is not installed here, a run of another kind): lfwb answers those 400 bad_input.
# A 422 would mean the schema misdescribes a field, so it stays a failure, as does any 5xx.
CONFIG = """
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]
"""
EXAMPLES = 10  # per operation and phase: about two minutes on a 2-CPU machine
SEED = 20261206  # the same requests every run; change it to look elsewhere
RUN_LIMIT_S = 900


@pytest.mark.slow
def test_the_api_meets_its_own_openapi_schema_under_every_schemathesis_check(server, scripted, tmp_path):
    scripted.model("smollm2", words("short"))  # generations go to an instant model of the default name
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(config),
        "--no-color",
        "run",
        f"{server.url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--generation-database",
        "none",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=RUN_LIMIT_S, cwd=tmp_path)
    summary = done.stdout[done.stdout.rfind("= FAILURES =") :] if done.returncode else ""
    assert done.returncode == 0, summary[-12_000:] or done.stdout[-4000:] + done.stderr[-2000:]
    selected, total = map(int, re.search(r"Selected: (\d+)/(\d+)", done.stdout).groups())
    tested = int(re.search(r"Tested: (\d+)", done.stdout).group(1))
    assert selected == total == tested >= 40  # every operation was asked
