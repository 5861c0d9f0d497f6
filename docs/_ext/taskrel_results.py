"""Render benchmark result files (JSON) as tables at build time.

``.. taskrel-results:: benchmarks/results/speed.json`` reads the file (a path or
a glob, relative to the repository root) when the docs are built and renders
its top-level description (``command``, ``protocol``, ``machine``...) and every
table it holds: each list of records becomes a table, each mapping of numbers a
two-column table. No number is typed into the docs. When no file matches, a
clearly marked placeholder says which command produces it.

Options
-------
produced-by : str
    The command that writes the file (shown in the placeholder and the caption).
records : str
    Render only the records at this slash-separated path (``results``).
columns : str
    Comma-separated columns to show for record tables (default: every column
    with scalar values; lists such as raw timing runs are left out).
exclude : str
    For ``taskrel-results-all``: comma-separated globs of files rendered elsewhere.

``.. taskrel-results-all::`` renders every ``benchmarks/results/*.json`` not
excluded, one rubric per file.
"""

import glob
import json
import math
import os

from docutils import nodes
from docutils.parsers.rst import directives
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

MAX_ROWS = 60
MAX_DEPTH = 4
META_KEYS = ("command", "protocol", "description", "note", "notes", "date", "quick")


def _escape(text):
    text = " ".join(str(text).split())
    for ch in ("\\", "*", "`", "|", "_"):
        text = text.replace(ch, "\\" + ch)
    return text or "\u2014"


def _fmt(value):
    """One table cell."""
    if value is None:
        return "\u2014"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f") if abs(value) >= 10000 else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
            return f"{value:.3e}"
        return f"{value:.4g}"
    if isinstance(value, list):
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) \
                and len(value) <= 5:
            return ", ".join(_fmt(v) for v in value)
        return f"[{len(value)} values]"
    if isinstance(value, dict):
        return f"{{{len(value)} fields}}"
    return _escape(value)


def _is_scalar(value):
    return value is None or isinstance(value, (bool, int, float, str))


def _is_records(value):
    return isinstance(value, list) and value and all(isinstance(v, dict) for v in value)


def _list_table(header, rows, widths=None):
    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header] + rows:
        cells = [c if c.strip() else "\u2014" for c in row]
        lines.append(f"   * - {cells[0]}")
        lines.extend(f"     - {c}" for c in cells[1:])
    lines.append("")
    return lines


def _records_table(records, columns=None):
    if columns is None:
        columns = []
        for rec in records:
            for key, value in rec.items():
                if key not in columns and _is_scalar(value):
                    columns.append(key)
    rows = [[_fmt(rec.get(c)) for c in columns] for rec in records[:MAX_ROWS]]
    lines = _list_table([_escape(c) for c in columns], rows)
    if len(records) > MAX_ROWS:
        lines += [f"*First {MAX_ROWS} of {len(records)} rows.*", ""]
    return lines


def _mapping_table(mapping):
    rows = [[_escape(k), _fmt(v)] for k, v in mapping.items()
            if _is_scalar(v) or isinstance(v, list)]
    return _list_table(["field", "value"], rows) if rows else []


def _walk(value, path, depth, out):
    """Collect (path, lines) for every table inside ``value``."""
    if depth > MAX_DEPTH:
        return
    if _is_records(value):
        out.append((path, _records_table(value)))
        return
    if isinstance(value, dict):
        scalars = {k: v for k, v in value.items() if (_is_scalar(v) or (
            isinstance(v, list) and not _is_records(v))) and not (not path and k in META_KEYS)}
        if scalars:
            out.append((path or "summary", _mapping_table(scalars)))
        for key, sub in value.items():
            if isinstance(sub, (dict, list)) and (isinstance(sub, dict) or _is_records(sub)):
                _walk(sub, f"{path} / {key}" if path else str(key), depth + 1, out)


def _describe(data, rel, produced_by):
    lines = [f"Source: ``{rel}``" + (f", written by ``{produced_by}``." if produced_by
                                       else "."), ""]
    if isinstance(data, dict):
        for key in META_KEYS:
            if key in data and _is_scalar(data[key]) and data[key] not in ("", None):
                lines += [f":{key}: {_escape(data[key])}"]
        machine = data.get("machine")
        if isinstance(machine, dict):
            summary = "; ".join(f"{_escape(k)} {_fmt(v)}" for k, v in machine.items()
                                if _is_scalar(v) or isinstance(v, list))
            lines += [f":machine: {summary}"]
        lines.append("")
    return lines


def _placeholder(pattern, produced_by):
    if not produced_by:
        how = ""
    elif produced_by.split()[0] in ("python", "bash", "sklearn-taskrel"):
        how = f" Run ``{produced_by}`` to produce it."
    else:
        how = f" It is produced by {produced_by}."
    return [".. admonition:: Placeholder: not measured yet", "   :class: warning", "",
            f"   This table is rendered from ``{pattern}`` when the docs are built; no"
            f" such file exists yet.{how}", ""]


class _Base(SphinxDirective):
    def _root(self):
        return os.path.abspath(os.path.join(self.env.srcdir, os.pardir))

    def _render_file(self, path, options):
        root = self._root()
        rel = os.path.relpath(path, root)
        self.env.note_dependency(path)
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        lines = _describe(data, rel, options.get("produced-by"))
        columns = options.get("columns")
        columns = [c.strip() for c in columns.split(",")] if columns else None
        if options.get("records"):
            value = data
            for part in options["records"].split("/"):
                value = value.get(part) if isinstance(value, dict) else None
            tables = [("", _records_table(value, columns))] if _is_records(value) else []
        else:
            tables = []
            if _is_records(data):
                tables.append(("", _records_table(data, columns)))
            else:
                _walk({k: v for k, v in data.items() if k != "machine"}
                      if isinstance(data, dict) else data, "", 0, tables)
        if not tables:
            lines += ["*The file holds no table.*", ""]
        for title, table in tables:
            if title:
                lines += [f".. rubric:: {_escape(title)}", ""]
            lines += table
        return lines

    def _parse(self, lines):
        node = nodes.container(classes=["taskrel-results"])
        nested_parse_with_titles(self.state, StringList(lines, source=self.get_source_info()[0]),
                                 node)
        return [node]


class ResultsDirective(_Base):
    """Tables of one result file (or the files matching a glob)."""

    required_arguments = 1
    option_spec = {"produced-by": directives.unchanged, "records": directives.unchanged,
                   "columns": directives.unchanged}

    def run(self):
        pattern = self.arguments[0]
        paths = sorted(glob.glob(os.path.join(self._root(), pattern)))
        if not paths:
            return self._parse(_placeholder(pattern, self.options.get("produced-by")))
        lines = []
        for path in paths:
            if len(paths) > 1:
                lines += [f".. rubric:: {_escape(os.path.basename(path))}", ""]
            lines += self._render_file(path, self.options)
        return self._parse(lines)


class AllResultsDirective(_Base):
    """Every ``benchmarks/results/*.json`` not rendered elsewhere."""

    option_spec = {"exclude": directives.unchanged}

    def run(self):
        root = self._root()
        excluded = set()
        for pattern in (self.options.get("exclude") or "").split(","):
            if pattern.strip():
                excluded.update(glob.glob(os.path.join(root, pattern.strip())))
        paths = [p for p in sorted(glob.glob(os.path.join(root, "benchmarks", "results",
                                                          "*.json"))) if p not in excluded]
        if not paths:
            return self._parse(["*No other result file yet.*", ""])
        lines = []
        for path in paths:
            lines += [f".. rubric:: {_escape(os.path.basename(path))}", ""]
            lines += self._render_file(path, {})
        return self._parse(lines)


def setup(app):
    app.add_directive("taskrel-results", ResultsDirective)
    app.add_directive("taskrel-results-all", AllResultsDirective)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
