"""Sphinx configuration of the sklearn-mtl documentation.

Build (offline, warnings as errors) from the repository root::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

Nothing is fetched from the network: no intersphinx, the pydata theme's bundled assets
only, and the gallery examples use generated data or data bundled with scikit-learn.
``SKLEARN_MTL_SMOKE=1`` runs the examples with tiny sizes (see ``examples/README.rst``).
"""

from __future__ import annotations

import inspect
import os
import re
import shutil
import sys
import warnings
from pathlib import Path

import sklearn_mtl

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE / "sphinxext"))  # mtl_gallery: example order, per-example reset

# -- project -----------------------------------------------------------------------
project = "sklearn-mtl"
author = "sklearn-mtl developers"
copyright = "sklearn-mtl developers"
release = sklearn_mtl.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
# sphinx-gallery's pages of execution times are not part of the site (the per-gallery
# one loads jQuery and DataTables from CDNs); the times are printed in the build log.
exclude_patterns += ["sg_execution_times.rst", "auto_examples/sg_execution_times.rst"]
default_role = "literal"  # `x` in our own pages renders as code, never as a dangling ref
pygments_style = "sphinx"
add_module_names = False

# Every reference must resolve: an unresolved :class:/:func:/:meth: is a warning, hence
# an error under -W. Names of other libraries cannot resolve without intersphinx (which
# would download their inventories), so they are ignored here by prefix.
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(numpy|np|torch|nn|skorch|sklearn|scipy|pandas|pd|matplotlib|joblib)(\..*)?"),
    (r"py:.*", r"(collections|typing|dataclasses|abc|pathlib|pickle|json|io|os|tempfile)(\..*)?"),
    # types named in numpydoc "Parameters"/"Returns" sections
    (r"py:.*", r"(ndarray|array-like|array|DataFrame|Series|Tensor|Module|callable|optional)"),
    # private classes that appear in public type hints (no API page of their own)
    (r"py:class", r"sklearn_mtl\.(.*\.)?_\w+\..*"),
]


# -- autodoc / autosummary / numpydoc -----------------------------------------------
# The API stubs are regenerated at every build; stale ones (a name removed from an
# __all__) would otherwise be orphan pages, an error under -W.
shutil.rmtree(HERE / "generated", ignore_errors=True)


def _is_module(name: str) -> bool:
    return inspect.ismodule(getattr(sklearn_mtl, name))


autosummary_generate = True
autosummary_ignore_module_all = False  # module pages list exactly the names in __all__
autosummary_context = {
    # names documented once, at the top level (see _templates/autosummary/module.rst)
    "toplevel": [name for name in sklearn_mtl.__all__ if not _is_module(name)],
    "submodules": [name for name in sklearn_mtl.__all__ if _is_module(name)],
    # classes whose methods are written in private layers (the estimator's are in
    # _estimator_fit.py, _estimator_predict.py, ...): documented as the class's own
    "layered": ["MultiTaskNetEstimator"],
}
autodoc_typehints = "none"  # types are written in the numpydoc sections
autodoc_member_order = "bysource"
autodoc_inherit_docstrings = True
numpydoc_show_class_members = False  # the class template lists the members itself
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False

# Formulas are rendered by MathJax in the reader's browser (Sphinx's default CDN
# address); the build itself fetches nothing.


# -- sphinx-gallery -----------------------------------------------------------------
# A warning an example raises is shown in its output as "Category: message", without
# the build machine's file paths (the default format starts with "/path/to/file.py:12:").
def _format_warning(message, category, filename, lineno, line=None):
    return f"{category.__name__}: {message}\n"


warnings.formatwarning = _format_warning

# Examples on real data (they load it with sklearn_mtl.datasets) find it through
# SKLEARN_MTL_DATA, since the gallery runs them from another working directory. Where the
# data folder is absent they are left out of the gallery rather than failing the build.
_DATA = Path(os.environ.get("SKLEARN_MTL_DATA", ROOT.parent / "shared" / "data"))
_EXAMPLES = ROOT / "examples"
_REAL_DATA_EXAMPLES = sorted(
    path.name
    for path in _EXAMPLES.glob("plot_*.py")
    if "sklearn_mtl.datasets" in path.read_text(encoding="utf-8")
)
if _DATA.is_dir():
    os.environ["SKLEARN_MTL_DATA"] = str(_DATA.resolve())
    _IGNORED = r"__init__\.py"
else:
    _IGNORED = "|".join([r"__init__\.py", *(re.escape(name) for name in _REAL_DATA_EXAMPLES)])

sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",  # every examples/plot_*.py is executed
    "ignore_pattern": _IGNORED,
    "within_subsection_order": "mtl_gallery.ExampleOrder",
    "reset_modules": ("matplotlib", "mtl_gallery.reset_torch"),
    "doc_module": ("sklearn_mtl",),
    "backreferences_dir": "generated/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "matplotlib_animations": False,
    "min_reported_time": 1,
    "abort_on_example_error": False,  # report every failing example, then fail the build
    "only_warn_on_example_error": False,
}

# -- HTML -----------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sklearn-mtl {release}"
html_static_path = ["_static"]
html_css_files = ["sklearn-mtl.css"]
html_theme_options = {
    "navbar_align": "left",
    "navbar_end": ["theme-switcher"],
    "icon_links": [],
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "show_prev_next": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"changelog": [], "design": []}
html_show_sourcelink = False
html_copy_source = False


# -- docstring fixes for names documented by scikit-learn or torch --------------------
_ROLE = re.compile(r":(ref|term|doc):`([^`<]*?)\s*(?:<([^`>]*)>)?`")
_SKLEARN_PAGES = {"metadata_routing": "https://scikit-learn.org/stable/metadata_routing.html"}


def _foreign(obj) -> bool:
    """Whether obj's docstring was written by another project (inherited or generated)."""
    module = getattr(obj, "__module__", None) or ""
    own_doc = getattr(obj, "__doc__", None)
    return not module.startswith("sklearn_mtl") or own_doc is None


def _unlink_foreign_roles(text: str) -> str:
    """Turn scikit-learn's :ref:/:term: roles (its own labels) into text or web links."""

    def replace(match: re.Match) -> str:
        title, target = match.group(2).strip(), match.group(3)
        label = target or title
        if label in _SKLEARN_PAGES:
            return f"`{title} <{_SKLEARN_PAGES[label]}>`__"
        return f"*{title}*" if title else label

    return _ROLE.sub(replace, text)


def _describe_value(name: str, obj) -> list[str] | None:
    """A description of a module-level dict or tuple that has no docstring of its own."""
    module_name = name.rsplit(".", 1)[0]
    module = sys.modules.get(module_name)
    public = set(getattr(module, "__all__", ()))

    def show(value) -> str:
        if inspect.isclass(value) and value.__name__ in public:
            return f":class:`~{module_name}.{value.__name__}`"
        kinds = getattr(value, "kinds", None)
        if kinds is not None:  # metric specifications
            return "tasks of kind " + ", ".join(f"``{k}``" for k in sorted(kinds))
        return f"``{value!r}``"

    if isinstance(obj, dict):
        lines = [f"A dict of {len(obj)} entries:", ""]
        lines += [f"- ``{key!r}``: {show(value)}" for key, value in obj.items()]
        return lines
    if isinstance(obj, tuple | list | frozenset):
        return [f"``{tuple(obj)!r}``"]
    return None


def process_docstring(app, what, name, obj, options, lines):
    type_doc = inspect.getdoc(type(obj)) or ""
    if what in ("data", "attribute") and lines and type_doc.startswith(lines[0].strip()):
        described = _describe_value(name, obj)
        if described is not None:
            lines[:] = described
            return
    if _foreign(obj):
        lines[:] = _unlink_foreign_roles("\n".join(lines)).split("\n")


def skip_member(app, what, name, obj, skip, options):
    # A torch.nn.Module method overridden without a docstring: torch's text is noise here.
    if getattr(obj, "__doc__", "") is None and hasattr(_torch_module(), name):
        return True
    # A method of a scikit-learn base class that the estimator inherits
    # (``get_metadata_routing``): documented by scikit-learn; the "layered" classes list
    # inherited members. The ``set_*_request`` methods, made for each class, stay.
    module = getattr(obj, "__module__", None) or ""
    if (
        inspect.isfunction(obj)
        and module.startswith("sklearn.")
        and "<locals>" not in obj.__qualname__
    ):
        return True
    return None


def _torch_module():
    from torch import nn

    return nn.Module


def _exported_name(target: str, module: str | None) -> str | None:
    """The top-level name ``sklearn_mtl.X`` of what ``target`` denotes, if it has one.

    Names exported by the package itself (``sklearn_mtl.Task``, defined in
    ``sklearn_mtl.tasks``) are documented once, under the top-level name; a reference
    written inside their defining module (``:class:`Task```), or to a member
    (``MultiTaskNetEstimator.score_tasks`` from ``sklearn_mtl.metrics``), still resolves.
    """
    head = target.partition(".")[0]
    if head in sklearn_mtl.__all__:
        return f"sklearn_mtl.{target}"
    candidates = [target] if module is None else [f"{module}.{target}", target]
    for candidate in candidates:
        parent, _, name = candidate.rpartition(".")
        if not parent.startswith("sklearn_mtl"):
            continue
        owner = sys.modules.get(parent)
        obj = getattr(owner, name, None) if owner is not None else None
        if obj is not None and getattr(sklearn_mtl, name, None) is obj:
            return f"sklearn_mtl.{name}"
    return None


def resolve_exported(app, env, node, contnode):
    """Resolve references to exported names under their documented top-level name."""
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"].removeprefix("~")
    exported = _exported_name(target, node.get("py:module"))
    if exported is None or exported == target:
        return None
    domain = env.domains["py"]
    retry = node.deepcopy()
    retry["reftarget"] = exported
    return domain.resolve_xref(
        env, node["refdoc"], app.builder, node["reftype"], exported, retry, contnode
    )


def setup(app):
    app.connect("autodoc-process-docstring", process_docstring)
    app.connect("autodoc-skip-member", skip_member)
    app.connect("missing-reference", resolve_exported)


# Silence the progress bars of verbose examples when the docs are built by CI.
os.environ.setdefault("TQDM_DISABLE", "1")
