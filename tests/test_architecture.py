"""Claim: imports run one way, down the layers (``docs/architecture.md``): no module of
``sim`` or ``theory`` imports one that imports it back (at module level or inside a
function), the engine knows no net and no study, ``sim`` never imports sympy or
``theory``, and ``theory`` never imports numba or ``sim``."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ("sim.sampling", "sim.ensembles", "sim.moments", "sim.stability", "sim.montecarlo",
          "sim.cloning", "sim.estimates", "sim._kernels", "sim._streams", "sim._validate",
          "sim.cuda", "sim._eigen", "sim.higher")


def modules() -> dict[str, Path]:
    out = {}
    for package in ("sim", "theory"):
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = path
    return out


def imports(name: str, path: Path, known: dict) -> set[str]:
    """Every module of ``known`` that ``name`` imports, anywhere in its source (a
    ``from package import module`` counts as importing that module)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    g = {name: imports(name, path, known) for name, path in known.items()}
    # A package's __init__ re-exports its modules: importing it is not importing them
    # back, so edges into a package __init__ from its own submodules are not cycles.
    for name in g:
        g[name] = {t for t in g[name] if not name.startswith(t + ".")}
    return g


def find_cycle(g: dict[str, set[str]]):
    state, stack = {}, []

    def visit(u):
        state[u] = "open"
        stack.append(u)
        for v in sorted(g.get(u, ())):
            if state.get(v) == "open":
                return stack[stack.index(v):] + [v]
            if v not in state:
                cycle = visit(v)
                if cycle:
                    return cycle
        stack.pop()
        state[u] = "done"
        return None

    for u in sorted(g):
        if u not in state:
            cycle = visit(u)
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    """The import graph of ``sim`` and ``theory`` (package re-exports aside) is acyclic."""
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


def test_cycle_finder_finds_cycles():
    """The checker itself: a two-module cycle and a self-consistent chain."""
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_layers():
    """The engine imports no net and no study; ``sim`` never imports ``theory`` or sympy;
    ``theory`` never imports ``sim`` or numba."""
    g = graph()
    for name in ENGINE:
        if name in g:
            bad = [t for t in g[name] if t.startswith(("sim.nets", "sim.studies", "sim.data"))]
            assert not bad, (name, bad)
    for name, path in modules().items():
        text = path.read_text()
        if name.startswith("sim"):
            assert not any(t.startswith("theory") for t in g[name]), name
            assert "import sympy" not in text and "from sympy" not in text, name
        else:
            assert not any(t.startswith("sim") for t in g[name]), name
            assert "import numba" not in text and "from numba" not in text, name


def test_architecture_page_names_real_functions():
    """Every dotted ``sim.``/``theory.`` name that ``docs/architecture.md`` cites resolves
    to an object of the package (module, function, class or attribute), and every module
    of ``sim`` appears on the page."""
    import importlib
    import re

    text = (ROOT / "docs" / "architecture.md").read_text()
    names = {n for n in re.findall(r"`((?:sim|theory)(?:\.[A-Za-z_][A-Za-z0-9_]*)+)`", text)
             if not n.endswith(".md")}
    assert len(names) >= 30
    for name in sorted(names):
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
            except ImportError:
                continue
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
            break
        else:
            raise AssertionError(f"{name} does not resolve")
    for mod in modules():
        if mod.startswith("sim.") and mod.count(".") == 1:
            assert any(n == mod or n.startswith(mod + ".") for n in names), mod
