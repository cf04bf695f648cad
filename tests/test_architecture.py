"""The layer order of ARCHITECTURE.md, enforced on the import graph of the ``noether`` package.

The graph is read with ``ast`` from the source (every ``import`` statement, including those inside
functions, which a runtime check would miss), so the test needs no imports of the package itself.
A new module belongs to the layer of the longest matching prefix below; a new composer (teleport,
local, align, torch, ...) is one more entry in ``COMPOSERS``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "noether"

#: Composers: orchestrate derive -> kernels -> run for one purpose.  They may import every layer
#: below them (and each other, without cycles), never report rendering, testing or the CLI.
COMPOSERS = ["noether.verify", "noether.sweep", "noether.teleport",
             "noether.teleport_nonlinear",
             "noether.train", "noether.local", "noether.local_laws", "noether.align", "noether.torch"]

#: Bottom to top.  A module may import its own layer and the layers before it.
LAYERS: list[tuple[str, list[str]]] = [
    ("base", ["noether.errors", "noether.expr", "noether.io", "noether._version", "noether.data"]),
    ("model", ["noether.model"]),
    ("optim", ["noether.optim"]),
    ("derive", ["noether.derive"]),
    ("completeness", ["noether.completeness"]),
    ("kernels", ["noether.kernels"]),
    ("run", ["noether.run"]),
    ("actions", ["noether.actions"]),      # finite group actions of derived generators, on parameters
    ("composers", COMPOSERS),
    ("report", ["noether.report"]),
    ("testing", ["noether.testing", "noether.claims"]),
    ("bench", ["noether.bench"]),
    ("commands", ["noether.commands", "noether.cli", "noether"]),
]

#: Layers whose function-local imports of noether modules are deliberate: the CLI imports a verb's
#: machinery only when the verb runs, so ``noether --help`` and ``--version`` start fast.
LAZY_INTERNAL = {"bench", "commands"}

#: Third-party modules that may be imported inside a function (optional extras or slow to import);
#: each such import carries a comment on its line or the line before saying why.
LAZY_EXTERNAL = ("torch", "jax", "matplotlib", "dask", "scipy.integrate", "scipy.linalg", "flint", "sklearn", "mnist1d")

#: Packages whose ``__all__`` is the public API the scripts in derivations/ may use.
PUBLIC = ["noether", "noether.model", "noether.optim", "noether.derive", "noether.completeness",
          "noether.kernels", "noether.run", "noether.testing", "noether.actions", "noether.align",
          "noether.torch"]


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return out


MODULES = _modules()


def _targets(name: str, path: Path, node) -> list[str]:
    """The modules an import statement names (a submodule when ``from pkg import sub``)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
    base = node.module or ""
    if node.level:
        parts = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
        base = ".".join(parts + ([base] if base else []))
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base for a in node.names]


def _function_local(tree) -> set[int]:
    ids = set()
    for f in ast.walk(tree):
        if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef)):
            ids |= {id(n) for n in ast.walk(f) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return ids


def _edges():
    """(importer, imported module, function-local?, line number, source lines) for every import."""
    out = []
    for name, path in sorted(MODULES.items()):
        src = path.read_text()
        tree = ast.parse(src)
        local = _function_local(tree)
        lines = src.splitlines()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for t in _targets(name, path, node):
                    out.append((name, t, id(node) in local, node.lineno, lines))
    return out


EDGES = _edges()


def layer_of(module: str) -> int:
    best, length = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > length:
                best, length = i, len(p)
    if best is None:
        raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_architecture.py")
    return best


def _internal():
    return [(a, b, loc, n) for a, b, loc, n, _ in EDGES if b == "noether" or b.startswith("noether.")]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in graph:
                    continue
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_every_module_has_a_layer():
    for m in MODULES:
        layer_of(m)


def test_imports_point_down_the_layers():
    bad = [f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})" + (" in a function" if loc else "")
           for a, b, loc, _ in _internal() if layer_of(b) > layer_of(a)]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_module_cycles():
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for a, b, _, _ in _internal():
        if b != a:
            graph[a].add(b)
    assert not _cycles(graph), _cycles(graph)


def _unit(module: str) -> str:
    """A package's unit: ``noether.<sub>`` for subpackages, the module itself at the root."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_no_package_cycles():
    graph: dict[str, set[str]] = {}
    for a, b, _, _ in _internal():
        ua, ub = _unit(a), _unit(b)
        graph.setdefault(ua, set())
        graph.setdefault(ub, set())
        if ua != ub and ua != "noether":       # the root __init__ re-exports the public API
            graph[ua].add(ub)
    assert not _cycles(graph), _cycles(graph)


def test_function_local_imports_only_for_declared_reasons():
    bad = []
    for a, b, loc, n, lines in EDGES:
        if not loc:
            continue
        internal = b == "noether" or b.startswith("noether.")
        if internal:
            if LAYERS[layer_of(a)][0] not in LAZY_INTERNAL:
                bad.append(f"{a}:{n} imports {b} inside a function (hoist it to the module top)")
            continue
        if not any(b == x or b.startswith(x + ".") for x in LAZY_EXTERNAL):
            bad.append(f"{a}:{n} imports {b} inside a function; allowed only for {', '.join(LAZY_EXTERNAL)}")
        elif "#" not in lines[n - 1] and not lines[n - 2].lstrip().startswith(("#", "else:", "try:")) \
                and "#" not in lines[n - 2]:
            bad.append(f"{a}:{n} lazy import of {b} without a comment saying why")
    assert not bad, "\n".join(bad)


def test_the_checker_sees_violations():
    """The checks above can fail: an upward edge and a two-module cycle are found."""
    assert layer_of("noether.model.linear") < layer_of("noether.kernels.codegen")
    assert layer_of("noether.sweep") == LAYERS.index(("composers", COMPOSERS))
    assert _cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
    with pytest.raises(AssertionError):
        layer_of("elsewhere.module")


def _public_names(pkg: str) -> set[str]:
    path = MODULES[pkg]
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            names |= {e.value for e in ast.walk(node.value) if isinstance(e, ast.Constant) and isinstance(e.value, str)}
    return names


@pytest.mark.parametrize("script", sorted((ROOT / "derivations").glob("*.py")), ids=lambda p: p.name)
def test_derivations_use_only_the_public_api(script):
    bad = []
    for node in ast.walk(ast.parse(script.read_text())):
        if isinstance(node, ast.Import):
            bad += [a.name for a in node.names if a.name.startswith("noether.") and a.name not in PUBLIC]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "noether":
            if node.module not in PUBLIC:
                bad.append(node.module)
                continue
            public = _public_names(node.module)
            bad += [f"{node.module}.{a.name}" for a in node.names if a.name not in public]
    assert not bad, f"{script.name} imports non-public names: {bad}"


def test_package_root_is_lazy_and_keeps_its_functions():
    """``import noether`` loads no heavy module; every public name resolves; the functions named
    like their modules stay functions after those modules are imported."""
    import subprocess
    import sys
    code = ("import sys, noether; heavy = [m for m in ('sympy', 'numba', 'scipy', 'noether.derive') if m in sys.modules]; "
            "assert not heavy, heavy; import noether.derive.derivation, noether.teleport_nonlinear; "
            "import noether.verify, noether.train; "
            "assert all(callable(getattr(noether, n)) and not isinstance(getattr(noether, n), type(sys)) "
            "for n in ('derive', 'teleport', 'train', 'verify')); "
            "missing = [n for n in noether.__all__ if not hasattr(noether, n)]; assert not missing, missing; "
            "assert set(noether.__all__) == set(noether._SOURCES) | {'__version__'}")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
