"""ipywidgets panels (`%lfw panel models`): thin faces over the Workbench.

Each panel calls the same manager and store methods as the magics; none holds logic of its own.
"""
