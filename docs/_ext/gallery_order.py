"""Order of the gallery examples: from the first contact to the details."""

ORDER = [
    "plot_quickstart.py",
    "plot_zoo_selection.py",
    "plot_bound_terms.py",
    "plot_label_free.py",
    "plot_baselines.py",
    "plot_text_encoders.py",
]


class ExampleOrder:
    """Sort key for ``sphinx_gallery_conf["within_subsection_order"]``."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        return (ORDER.index(filename) if filename in ORDER else len(ORDER), filename)

    def __repr__(self):
        return f"<{type(self).__name__}>"
