"""lfwb — a Jupyter-native LLM workbench.

    %load_ext lfwb
    %%lfw generate
    Write a haiku about notebooks.

The Python API is the same object the magics use: `lfwb.workbench()`.
Loading the extension imports no model library; they load when a model is first used.
"""

from __future__ import annotations

from .errors import LfwbError
from .config import Lfwb
from .workbench import Workbench, workbench

__version__ = "0.1.0"


def load_ipython_extension(ip) -> None:
    """`%load_ext lfwb`: register %lfw / %%lfw and the `Lfwb` settings for %config."""
    from .magics import LfwbMagics

    ip.register_magics(LfwbMagics)  # first: a refused setting below must not leave %lfw missing
    if any(isinstance(c, Lfwb) for c in ip.configurables):
        return
    ip.configurables.append(_settings_from_config(ip))


def _settings_from_config(ip) -> Lfwb:
    """The `Lfwb` settings from the shell's config, leaving out any value they refuse.

    The shell's config keeps every `%config Lfwb...` line, refused ones too, and a profile may
    hold a bad value: drop it with one line rather than fail to load.
    """
    from traitlets import TraitError
    from traitlets.config import Config

    while True:
        try:
            return Lfwb(parent=ip)
        except TraitError as e:
            print(f"lfwb: ignored a saved setting — {e}")
            section, name = ip.config.get("Lfwb"), getattr(e, "setting", None)
            if section and name in section:
                del section[name]
            elif section:  # a refusal that does not say which setting: keep none of them
                del ip.config["Lfwb"]
            else:
                return Lfwb(parent=ip, config=Config())


def unload_ipython_extension(ip) -> None:
    ip.configurables[:] = [c for c in ip.configurables if not isinstance(c, Lfwb)]
    ip.magics_manager.magics["line"].pop("lfw", None)
    ip.magics_manager.magics["cell"].pop("lfw", None)


__all__ = ["Lfwb", "LfwbError", "Workbench", "load_ipython_extension", "workbench", "__version__"]
