"""Sphinx configuration of the sklearn_taskrel documentation.

Build (warnings are errors, as in CI): ``bash .ci/docs``, or
``sphinx-build -W --keep-going -b html docs docs/_build/html``.

Everything builds offline: no intersphinx inventories are fetched, the gallery
examples use encoders and data from installed pip packages, and the benchmark
tables are read from ``benchmarks/results/*.json`` at build time.
"""

import os
import sys
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "_ext"))
sys.path.insert(0, os.path.abspath(os.path.join(HERE, os.pardir)))

# Offline and headless: never reach a model hub; draw with Agg.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

from gallery_order import EXAMPLE_NEEDS, missing_needs  # noqa: E402

import sklearn_taskrel  # noqa: E402

project = "sklearn_taskrel"
author = "sklearn_taskrel developers"
copyright = "2026, sklearn_taskrel developers"
release = sklearn_taskrel.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
    "taskrel_results",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/*.py", "auto_examples/*.zip", "sg_execution_times.rst"]
root_doc = "index"
default_role = "literal"

# -- autodoc / autosummary / numpydoc ----------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # autosummary pages list members themselves
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- matplotlib plot directive (the figures of the user guide) -----------------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.autolayout": True}

# -- sphinx-gallery -------------------------------------------------------------
# An example whose optional packages are missing here is left out (with a
# message) instead of failing the build; CI installs them all.
_SKIPPED = {name: missing_needs(name) for name in EXAMPLE_NEEDS}
_SKIPPED = {name: miss for name, miss in _SKIPPED.items() if miss}
for _name, _miss in _SKIPPED.items():
    print(f"[docs] leaving out examples/{_name}: missing {_miss}")

sphinx_gallery_conf = {
    "examples_dirs": os.path.join(os.pardir, "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": "/plot_",
    "ignore_pattern": "|".join([r"__init__\.py"] + [name.replace(".", r"\.")
                                                   for name in _SKIPPED]),
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "min_reported_time": 1,
    "download_all_examples": False,
    "plot_gallery": "True",
    "within_subsection_order": "gallery_order.ExampleOrder",
    "show_memory": False,
}

# Examples run inside the build: keep BLAS and torch to one thread each (a
# shared 2-core CI box slows down by an order of magnitude with oversubscription).
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

warnings.filterwarnings("ignore", category=UserWarning,
                        message="Matplotlib is currently using agg")

# -- HTML -------------------------------------------------------------------------
html_theme = "alabaster"
html_static_path = []
html_title = f"sklearn_taskrel {release}"
html_theme_options = {
    "description": "Rank pre-trained encoders by task-relatedness",
    "fixed_sidebar": True,
}
