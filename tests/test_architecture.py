"""The house plan holds: the import contracts in pyproject.toml (layers, one way down;
interfaces only through the public surface; measures over the feed over the kernels)."""

from __future__ import annotations

from pathlib import Path

from importlinter.cli import lint_imports

ROOT = Path(__file__).resolve().parents[1]


def test_import_contracts_are_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    status = lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "BROKEN" not in out and "KEPT" in out


def _cycles(graph, modules) -> list[list[str]]:
    """Every import cycle among `modules` (one representative path per cycle found)."""
    found, state = [], {}

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph.find_modules_directly_imported_by(m)):
            if n not in modules:
                continue
            if state.get(n) == "open":
                found.append(path[path.index(n):] + [n])
            elif n not in state:
                visit(n, path + [n])
        state[m] = "done"

    for m in sorted(modules):
        if m not in state:
            visit(m, [m])
    return found


def test_no_import_cycles():
    import grimp
    graph = grimp.build_graph("journeymap")
    modules = {m for m in graph.modules if m.startswith("journeymap")}
    # a package's __init__ naming its own submodules is how Python packages work, not a cycle
    cycles = [c for c in _cycles(graph, modules)
              if not any(a.startswith(b + ".") or b.startswith(a + ".") for a, b in zip(c, c[1:]))]
    assert cycles == []
