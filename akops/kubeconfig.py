"""The shape of a kubeconfig file, checked before the Kubernetes client reads it.

Rule: pure parsing (text in, one-line ``InputError`` out). The client's own loader
answers a malformed file with a traceback from deep inside PyYAML or a bare
``'int' object is not iterable``; this names the file, the line and the field instead,
and caps aliases and nesting like every other YAML the project reads.
"""

from __future__ import annotations

from akops.errors import InputError
from akops.yamldoc import Document, parse_all

#: The lists a kubeconfig holds, and the mapping each entry carries besides its name.
NAMED_LISTS = {"clusters": "cluster", "contexts": "context", "users": "user"}


def check_kubeconfig(text: str, source: str) -> None:
    """Raise ``InputError`` naming ``source:line: field`` when ``text`` is no kubeconfig."""
    docs = parse_all(text, source)
    if not docs:
        return  # an empty file is a kubeconfig without contexts: the caller says so
    if len(docs) > 1:
        raise InputError(f"{source}:{docs[1].start_line}: a kubeconfig holds one YAML document")
    doc = docs[0]
    if not isinstance(doc.data, dict):
        raise InputError(f"{source}:{doc.start_line}: expected a mapping at the top level")
    for key, inner in NAMED_LISTS.items():
        _check_list(doc, key, inner, source)
    current = doc.data.get("current-context")
    if current is not None and not isinstance(current, str):
        raise InputError(
            f"{source}:{doc.line_of(('current-context',))}: current-context: expected a name"
        )


def _check_list(doc: Document, key: str, inner: str, source: str) -> None:
    items = doc.data.get(key)
    if items is None:
        return
    if not isinstance(items, list):
        raise InputError(f"{source}:{doc.line_of((key,))}: {key}: expected a list")
    for i, item in enumerate(items):
        where = f"{source}:{doc.line_of((key, i))}: {key}[{i}]"
        if not isinstance(item, dict):
            raise InputError(f"{where}: expected a mapping with 'name' and '{inner}'")
        if not isinstance(item.get("name"), str) or not item["name"]:
            raise InputError(f"{where}.name: expected a non-empty name")
        if not isinstance(item.get(inner), dict):
            raise InputError(f"{where}.{inner}: expected a mapping")
