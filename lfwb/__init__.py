"""lfwb — a Jupyter-native LLM workbench.

    %load_ext lfwb
    %%lfw generate
    Write a haiku about notebooks.

The Python API is the same object the magics use: `lfwb.workbench()`.
Loading the extension imports no model library; they load when a model is first used.
"""

from __future__ import annotations

from .errors import LfwbError
from .workbench import Lfwb, Workbench, workbench

__version__ = "0.1.0"


def load_ipython_extension(ip) -> None:
    """`%load_ext lfwb`: register %lfw / %%lfw and the `Lfwb` settings for %config."""
    from .magics import LfwbMagics

    if not any(isinstance(c, Lfwb) for c in ip.configurables):
        ip.configurables.append(Lfwb(parent=ip))
    ip.register_magics(LfwbMagics)


def unload_ipython_extension(ip) -> None:
    ip.configurables[:] = [c for c in ip.configurables if not isinstance(c, Lfwb)]
    ip.magics_manager.magics["line"].pop("lfw", None)
    ip.magics_manager.magics["cell"].pop("lfw", None)


__all__ = ["Lfwb", "LfwbError", "Workbench", "load_ipython_extension", "workbench", "__version__"]
