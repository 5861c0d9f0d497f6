"""A ranking as one self-contained report: HTML (plots embedded) or Markdown.

The report holds the verdict, the ranking with its bootstrap intervals, the terms of
the bound per encoder, the agreement between scores, and how to read each term.
"""

import base64
import html
import io
import os

import numpy as np

__all__ = ["ranking_report", "write_report"]

_TERMS = [
    ("task_relatedness", "TR",
     "the bound on the target cross-entropy of the transformed reference classifier, in "
     "nats; lower is better. Compare it with the chance level."),
    ("chance_level", "chance",
     "the target's label entropy: the cross-entropy of predicting the class prior. A TR "
     "below it certifies that the encoder transfers better than guessing."),
    ("reweighted_reference_loss", "ref_loss",
     "the reference head's loss, reweighted by the learned class prior: how hard the "
     "reference task is for the encoder."),
    ("conditional_entropy", "H(T|R)",
     "the label mismatch: 0 when each target class maps to one reference class."),
    ("transport", "tau*W1",
     "the Lipschitz constant times the Wasserstein distance between the transformed "
     "reference and the target: how far the target's features are from the reference's "
     "after the best affine map."),
    ("target_loss", "tgt_CE",
     "the cross-entropy of the transformed reference classifier on the target (held out "
     "when cross-fitted); the bound holds when it is below TR."),
]
_UNCERTAINTY = [
    ("score_low", "score_high",
     "a percentile interval of the score over bootstrap resamples of the target."),
    ("p_best", None, "the share of resamples in which the encoder ranks first."),
    ("tied_with_best", None,
     "whether the interval of its paired difference to the first encoder contains 0."),
]


def _columns(table):
    """The ranking columns present in ``table``, in reading order."""
    names = table.attrs.get("scorers", ["tr"])
    front = ["rank", "encoder"]
    if len(names) > 1:
        front += ["consensus_rank"]
        for n in names:
            front += [c for c in (f"score_{n}", f"score_low_{n}", f"score_high_{n}",
                                  f"p_best_{n}", f"tied_with_best_{n}", f"rank_{n}")]
        front += ["chance_level"] + [f"{n}_beats_chance" for n in names]
    else:
        front += ["score", "score_low", "score_high", "p_best", "tied_with_best",
                  "task_relatedness", "chance_level", "beats_chance"]
    front += ["error"]
    return [c for c in front if c in table and table[c].notna().any()]


def _cell(v):
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return ""
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        return f"{v:.0f}" if float(v).is_integer() and abs(v) < 1e6 else f"{v:.4f}"
    return str(v)


def _figure_png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(table):
    """``[(title, base64 png), ...]``: scores with intervals, and the bound terms."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = []
    ok = table[table["rank"].notna()]
    if ok.empty:
        return out
    names = table.attrs.get("scorers", ["tr"])
    suffix = "" if len(names) == 1 else f"_{names[0]}"
    score = ok[f"score{suffix}"].to_numpy(dtype=float)
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(ok) + 1.2))
    y = np.arange(len(ok))[::-1]
    if f"score_low{suffix}" in ok:
        lo = ok[f"score_low{suffix}"].to_numpy(dtype=float)
        hi = ok[f"score_high{suffix}"].to_numpy(dtype=float)
        ax.errorbar(score, y, xerr=[score - lo, hi - score], fmt="o", capsize=3)
    else:
        ax.plot(score, y, "o")
    ax.set_yticks(y, ok["encoder"].astype(str))
    ax.set_xlabel(f"score ({names[0]}; greater is better)")
    ax.grid(axis="x", alpha=0.3)
    out.append(("Scores and their intervals", _figure_png(fig)))
    if "reweighted_reference_loss" in ok:
        from sklearn_taskrel.plotting import plot_bound_terms

        fig, ax = plt.subplots(figsize=(6, 3.5))
        plot_bound_terms(ok, ax=ax)
        out.append(("Terms of the bound per encoder", _figure_png(fig)))
    return out


def ranking_report(table, *, kind="html", title="Encoder ranking"):
    """The report of a ranking table as a string.

    Parameters
    ----------
    table : pandas.DataFrame
        A table from :func:`~sklearn_taskrel.model_selection.rank_encoders` or
        :func:`~sklearn_taskrel.model_selection.rank_embeddings`.
    kind : {"html", "markdown"}, default="html"
        HTML is one self-contained file (plots embedded as PNG); Markdown has the
        same text and tables, without the plots.
    title : str

    Returns
    -------
    str

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.model_selection import rank_embeddings
    >>> from sklearn_taskrel.report import ranking_report
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20); Z = rng.normal(size=(40, 4)) + 2 * y[:, None]
    >>> table = rank_embeddings({"good": (Z, (Z, y)), "noise": (rng.normal(size=Z.shape),
    ...                          (Z, y))}, y, random_state=0)
    >>> print(ranking_report(table, kind="markdown").splitlines()[0])
    # Encoder ranking
    """
    if kind not in ("html", "markdown"):
        raise ValueError(f"kind must be 'html' or 'markdown'; got {kind!r}.")
    cols = _columns(table)
    rows = [[_cell(r[c]) for c in cols] for _, r in table.iterrows()]
    names = table.attrs.get("scorers", ["tr"])
    tr_name = next((n for n in names if n.startswith("tr")), None)
    if len(names) > 1 and tr_name is not None:  # the first TR score's terms
        table = table.assign(task_relatedness=table[f"{tr_name}_task_relatedness"],
                             target_loss=table[f"{tr_name}_target_loss"])
    term_cols = ["encoder"] + [c for c, _, _ in _TERMS if c in table]
    term_rows = [[_cell(r[c]) for c in term_cols] for _, r in table.iterrows()]
    term_cols = ["encoder"] + [short for c, short, _ in _TERMS if c in table]
    agreement = table.attrs.get("agreement")
    summary = table.attrs.get("summary", "")
    glossary = [(short, text) for c, short, text in _TERMS if c in table]
    glossary += [(a if b is None else f"{a}, {b}", text) for a, b, text in _UNCERTAINTY
                 if a in table or f"{a}_{table.attrs.get('scorers', ['tr'])[0]}" in table]
    from sklearn_taskrel._version import __version__

    footer = f"Written by sklearn_taskrel {__version__}."
    if kind == "markdown":
        return _markdown(title, summary, cols, rows, term_cols, term_rows, agreement,
                         glossary, footer)
    return _html(title, summary, cols, rows, term_cols, term_rows, agreement, glossary,
                 _plots(table), footer)


def _md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def _markdown(title, summary, cols, rows, term_cols, term_rows, agreement, glossary,
              footer):
    parts = [f"# {title}", "", "## Verdict", "", summary, "", "## Ranking", "",
             _md_table(cols, rows), ""]
    if len(term_cols) > 1:
        parts += ["## Terms of the bound", "", _md_table(term_cols, term_rows), ""]
    if agreement is not None:
        parts += ["## Agreement between scores (Kendall tau)", "",
                  _md_table([""] + list(agreement.columns),
                            [[str(i)] + [f"{v:.2f}" for v in row]
                             for i, row in zip(agreement.index, agreement.to_numpy())]), ""]
    parts += ["## How to read it", ""] + [f"- **{k}**: {v}" for k, v in glossary]
    parts += ["", footer, ""]
    return "\n".join(parts)


def _html_table(header, rows, cls):
    esc = html.escape
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _html(title, summary, cols, rows, term_cols, term_rows, agreement, glossary, plots,
          footer):
    esc = html.escape
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title>",
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
        "padding:.25em .6em;text-align:right}td:nth-child(2),th:nth-child(2){text-align:"
        "left}.verdict{background:#f4f6fa;padding:.8em;border-left:4px solid #4a6fa5}"
        "</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<h2>Verdict</h2><p class="verdict">{esc(summary)}</p>',
        "<h2>Ranking</h2>", _html_table(cols, rows, "ranking"),
    ]
    for caption, png in plots:
        parts.append(f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{png}">'
                     f"<figcaption>{esc(caption)}</figcaption></figure>")
    if len(term_cols) > 1:
        parts += ["<h2>Terms of the bound</h2>", _html_table(term_cols, term_rows, "terms")]
    if agreement is not None:
        parts += ["<h2>Agreement between scores (Kendall tau)</h2>",
                  _html_table([""] + list(agreement.columns),
                              [[str(i)] + [f"{v:.2f}" for v in row]
                               for i, row in zip(agreement.index, agreement.to_numpy())],
                              "agreement")]
    parts += ["<h2>How to read it</h2><dl>"]
    parts += [f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in glossary]
    parts += ["</dl>", f"<p><small>{esc(footer)}</small></p>", "</body></html>"]
    return "\n".join(parts)


def write_report(table, path, *, title="Encoder ranking"):
    """Write :func:`ranking_report` to ``path``: HTML for ``.html``/``.htm``,
    Markdown for ``.md``.

    Returns
    -------
    path : str

    Examples
    --------
    >>> import tempfile, os, numpy as np
    >>> from sklearn_taskrel.model_selection import rank_embeddings
    >>> from sklearn_taskrel.report import write_report
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20); Z = rng.normal(size=(40, 4)) + 2 * y[:, None]
    >>> table = rank_embeddings({"good": (Z, (Z, y))}, y, random_state=0)
    >>> path = write_report(table, os.path.join(tempfile.mkdtemp(), "ranking.html"))
    >>> open(path).read().startswith("<!DOCTYPE html>")
    True
    """
    ext = os.path.splitext(os.fspath(path))[1].lower()
    kinds = {".html": "html", ".htm": "html", ".md": "markdown"}
    if ext not in kinds:
        raise ValueError(f"report path {os.fspath(path)!r} must end in .html, .htm or .md; "
                         f"got {ext or 'no extension'!r}.")
    text = ranking_report(table, kind=kinds[ext], title=title)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return os.fspath(path)
