"""The faces (magics, widgets, server) call the Workbench, not the parts below it: the places
that name `.store` or `.manager` are counted, so reaching past the Workbench cannot grow back."""

import re
from pathlib import Path

import lfwb

FACES = ("magics", "widgets", "server")
# An attribute reached through (`wb.store`, `workbench(request).manager`); importing the store's
# constants or types (`from ..store import RUN_STATUSES`) is not reaching past the Workbench.
REACH = re.compile(r"[\w)\]]\.(store|manager)\b")
AT_MOST = 6  # issue 18 counted 87; what is left: the run routes' reads


def test_the_faces_reach_past_the_workbench_in_few_places():
    root = Path(lfwb.__file__).parent
    places = [
        f"{path.relative_to(root)}:{n}"
        for face in FACES
        for path in sorted((root / face).glob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if REACH.search(line)
    ]
    assert len(places) <= AT_MOST, (
        "the faces name .store/.manager here — add a Workbench method instead:\n" + "\n".join(places)
    )
