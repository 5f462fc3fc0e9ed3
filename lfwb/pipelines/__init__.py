"""Pipelines: a request through several models in turn, and the code artifacts they produce.

    >>> from lfwb.pipelines.artifacts import extract_artifacts
    >>> [a.kind for a in extract_artifacts("```jsx\\nexport default () => <b/>\\n```")]
    ['jsx']

Kept light: this package's modules import no model library when imported.
"""
