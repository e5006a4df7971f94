"""Every public item has a docstring."""

from __future__ import annotations

import inspect

import legato


def test_every_public_item_has_a_docstring() -> None:
    missing = []
    for name in legato.__all__:
        obj = getattr(legato, name)
        if name.startswith("__"):
            continue
        if not (inspect.getdoc(obj) or "").strip():
            missing.append(name)
        if inspect.isclass(obj):
            for attr in vars(obj):
                if attr.startswith("_") or attr in ("kind",):
                    continue
                if not (inspect.getdoc(getattr(obj, attr)) or "").strip():
                    missing.append(f"{name}.{attr}")
    assert not missing, missing
