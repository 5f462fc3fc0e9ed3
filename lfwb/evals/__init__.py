"""Evals: a dataset through a prompt or a pipeline on several models, each answer scored by checks.

    spec.py      the definition (YAML: prompt or pipeline, checks, settings)
    checks.py    the checks as written, and the text checks' verdicts
    scoring.py   every check's verdict on one answer (schemas, jsx, notebook functions, judges)
    dataset.py   the rows (a list, a CSV, JSONL)
    runner.py    checking it all first, then the answers under one parent run, concurrently
    report.py    an eval run read back: table, pass rates, failures, best model
    changes.py   what got better and what regressed against an earlier run
    view.py      how a report draws itself (text, HTML, the chart)

The Workbench's face onto them is lfwb/workbench_evals.py.
"""
