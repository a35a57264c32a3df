"""The engine's parts keep to their layers (docs/engine.md, "The engine"; docs/broker.md,
"Module map"): no import cycle in engine/rmdsl, the runtime never imports the tooling, the
contract module imports neither side, and no module reaches another module's private names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests import importgraph as ig

RUNTIME = ("rmdsl.engine", "rmdsl.daemon", "rmdsl.broker", "rmdsl.enforce", "rmdsl.store")

# Cycles allowed for now: none (the language passes import no other pass, tests/rules/
# test_passes.py).
PENDING_CYCLES: frozenset[frozenset[str]] = frozenset()

# (module, private name) that stay, each with its reason
ALLOWED_PRIVATE = {
    # the SDK's own authenticated request: its position wrappers sleep 0.1 s and re-read the
    # positions after each close (docs/broker.md, "Calls")
    ("rmdsl.broker.projectx", "_make_request"),
}


def _in(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_engine_rmdsl_has_no_import_cycle() -> None:
    found = [c for c in ig.cycles(ig.graph()) if frozenset(c) not in PENDING_CYCLES]
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(c) for c in found)


def test_the_runtime_never_imports_the_tooling() -> None:
    edges = ig.graph(type_checking=True)
    bad = []
    for module in sorted(m for m in edges if _in(m, RUNTIME)):
        via = ig.reachable(edges, module)
        bad += [ig.chain(via, module, t) for t in sorted(via) if _in(t, ("rmdsl.tooling",))]
    assert not bad, "the runtime imports rmdsl.tooling:\n" + "\n".join(" -> ".join(c) for c in bad)


def test_the_contract_imports_neither_the_engine_nor_a_broker() -> None:
    edges = ig.graph(type_checking=True)
    contract = [m for m in edges if _in(m, ("rmdsl.contract",))]
    assert "rmdsl.contract.events" in contract and "rmdsl.contract.broker" in contract
    outside = {(m, t) for m in contract for t in edges[m] if not _in(t, ("rmdsl.contract",))}
    assert not outside, f"rmdsl.contract imports outside itself: {sorted(outside)}"


def test_no_module_uses_another_modules_private_names() -> None:
    found = [
        f"{u.importer}:{u.line} uses {u.module}.{u.name}"
        for u in ig.private_uses()
        if (u.importer, u.name) not in ALLOWED_PRIVATE
    ]
    assert not found, "private names used across modules:\n" + "\n".join(found)


# ---- the checker itself, on a package made for it ----------------------------------------------


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in {"__init__.py": "", **files}.items():
        path = tmp_path / "rmdsl" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_cycle_through_a_function_level_import_is_found_and_named(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "a.py": "from rmdsl.b import f\n",
            "b.py": "def f():\n    from rmdsl import c\n",
            "c.py": "import rmdsl.a\n",
        },
    )
    assert ig.cycles(ig.graph(root)) == [["rmdsl.a", "rmdsl.b", "rmdsl.c", "rmdsl.a"]]


def test_type_checking_imports_make_no_cycle_but_count_for_layers(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "a.py": "from rmdsl.b import B\n",
            "b.py": (
                "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from rmdsl.a import A\n"
            ),
        },
    )
    assert ig.cycles(ig.graph(root)) == []
    assert ig.graph(root, type_checking=True)["rmdsl.b"] == {"rmdsl.a"}


def test_relative_imports_and_submodules_are_resolved(tmp_path: Path) -> None:
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/x.py": "from . import y\nfrom .y import Y\n",
            "pkg/y.py": "from ..top import T\n",
            "top.py": "",
        },
    )
    edges = ig.graph(root)
    assert edges["rmdsl.pkg.x"] == {"rmdsl.pkg.y"}
    assert edges["rmdsl.pkg.y"] == {"rmdsl.top"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("from rmdsl.b import _hidden\n", [("rmdsl.b", "_hidden")]),
        ("from rmdsl import b\nb._hidden()\n", [("rmdsl.b", "_hidden")]),
        ("def f(engine):\n    engine._persist()\n", [("engine", "_persist")]),
        ("def f(self):\n    self._mine = 1\n    self.other._mine\n", []),  # its own member
        ("def f(self, cls):\n    self._x, cls._y\n", []),
        ("from rmdsl.b import __all__\nx.__dict__\n", []),  # dunders are public
    ],
)
def test_private_uses_are_found(tmp_path: Path, text: str, expected: list[tuple[str, str]]) -> None:
    root = _package(tmp_path, {"a.py": text, "b.py": "_hidden = 1\n__all__ = []\n"})
    found = [(u.module, u.name) for u in ig.private_uses(root) if u.importer == "rmdsl.a"]
    assert found == expected
