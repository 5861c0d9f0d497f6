"""scikit-learn's estimator checks on the default instances."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_taskrel import TaskRelatednessScorer

# No expected failure: every check passes on the default instance.
EXPECTED_FAILED_CHECKS = {}


@parametrize_with_checks([TaskRelatednessScorer()],
                         expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


#: The package's layers, lowest first: a module may import its own layer and those
#: below it, never one above.
LAYERS = (
    {"utils", "exceptions", "_version"},
    {"transport", "_head", "_paper"},
    {"encoders", "datasets"},
    {"_reference", "_estimator", "metrics", "_bootstrap"},
    {"model_selection", "plotting", "report", "_demo", "cli", "__main__", "__init__"},
)


def _import_graph():
    """Module -> the package modules it imports (top-level and inside functions),
    read from the sources with ``ast``."""
    import ast
    from pathlib import Path

    import sklearn_taskrel

    root = Path(sklearn_taskrel.__file__).parent
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        modules[name] = path

    def resolve(name):
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                    "sklearn_taskrel"):
                targets.update(resolve(f"{node.module}.{a.name}") for a in node.names)
            elif isinstance(node, ast.Import):
                targets.update(resolve(a.name) for a in node.names
                               if a.name.startswith("sklearn_taskrel"))
        graph[name] = targets - {None, name}
    return graph


def _cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_planted_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles_and_imports_only_go_down_the_layers():
    """No two modules import each other, even lazily inside a function, and no
    module imports from a layer above its own (utils -> transport -> encoders ->
    estimators -> model selection and the command line)."""
    graph = _import_graph()
    assert len(graph) > 50
    assert _cycles(graph) == []

    def layer(module):
        top = module.split(".")[1] if "." in module else "__init__"
        return next(i for i, names in enumerate(LAYERS) if top in names)

    upward = sorted(f"{v} -> {w}" for v, ws in graph.items() for w in ws
                    if layer(w) > layer(v))
    assert upward == []
