"""Ranking reports (sklearn_taskrel.report): HTML parsed back, Markdown, the CLI."""

import base64
from html.parser import HTMLParser

import numpy as np
import pytest
from conftest import make_task

from sklearn_taskrel.cli import main
from sklearn_taskrel.model_selection import rank_embeddings
from sklearn_taskrel.report import ranking_report, write_report


class _Page(HTMLParser):
    """Tables (as lists of rows of cell texts), headings, images and paragraphs."""

    def __init__(self):
        super().__init__()
        self.tables, self.headings, self.images, self.verdict = {}, [], [], ""
        self._table = self._row = self._cell = None
        self._in = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = self.tables.setdefault(attrs.get("class"), [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag == "img":
            self.images.append(attrs)
        elif tag in ("h1", "h2"):
            self._in = "h"
            self.headings.append("")
        elif tag == "p" and attrs.get("class") == "verdict":
            self._in = "verdict"

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(self._cell)
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self._table.append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None
        elif tag in ("h1", "h2", "p"):
            self._in = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data
        elif self._in == "h":
            self.headings[-1] += data
        elif self._in == "verdict":
            self.verdict += data


@pytest.fixture(scope="module")
def ranked():
    Xr, yr, means = make_task(n_per_class=30, n_classes=3, n_features=6, random_state=0)
    Xt, yt, _ = make_task(n_per_class=30, n_classes=3, n_features=6, random_state=1,
                          means=means)
    noise = np.random.RandomState(0).normal(size=Xt.shape)
    emb = {"good": (Xt, (Xr, yr)), "noise": (noise, (Xr, yr))}
    one = rank_embeddings(emb, yt, n_bootstrap=50, random_state=0)
    two = rank_embeddings(emb, yt, scorer=["tr", "logme"], random_state=0)
    return one, two


def test_html_report_holds_the_ranking_terms_verdict_and_plots(ranked):
    table, _ = ranked
    page = _Page()
    page.feed(ranking_report(table))
    assert page.headings[:3] == ["Encoder ranking", "Verdict", "Ranking"]
    assert "Terms of the bound" in page.headings and "How to read it" in page.headings
    assert page.verdict == table.attrs["summary"] and "good ranks first" in page.verdict
    header, *rows = page.tables["ranking"]
    assert header[:3] == ["rank", "encoder", "score"] and "p_best" in header
    assert [r[1] for r in rows] == ["good", "noise"]
    assert [r[0] for r in rows] == ["1", "2"]
    p_best = [float(r[header.index("p_best")]) for r in rows]
    assert p_best == pytest.approx(list(table["p_best"]), abs=5e-5)
    terms_header, *terms = page.tables["terms"]
    assert terms_header[:2] == ["encoder", "TR"]
    assert float(terms[0][1]) == pytest.approx(table.loc[0, "task_relatedness"], abs=5e-5)
    assert len(page.images) == 2  # the scores with intervals, the terms
    for img in page.images:
        assert img["src"].startswith("data:image/png;base64,")
        assert base64.b64decode(img["src"].split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"


def test_reports_of_several_scores_show_their_agreement(ranked, tmp_path):
    _, table = ranked
    page = _Page()
    page.feed(ranking_report(table))
    header, *rows = page.tables["agreement"]
    assert header == ["", "tr", "logme"] and rows[0][:2] == ["tr", "1.00"]
    md = ranking_report(table, kind="markdown")
    assert "## Agreement between scores (Kendall tau)" in md
    assert "| rank | encoder | consensus_rank | score_tr |" in md
    path = write_report(table, tmp_path / "r.md")
    assert open(path).read() == md
    with pytest.raises(ValueError, match="must end in .html, .htm or .md"):
        write_report(table, tmp_path / "r.pdf")
    with pytest.raises(ValueError, match="kind must be"):
        ranking_report(table, kind="pdf")


def test_rank_command_writes_the_report(tmp_path, capsys):
    Xr, yr, means = make_task(n_per_class=20, n_classes=3, n_features=5, random_state=0)
    X, y, _ = make_task(n_per_class=20, n_classes=3, n_features=5, random_state=1,
                        means=means)
    np.savez(tmp_path / "a.npz", X_ref=Xr, y_ref=yr, X=X, y=y)
    np.savez(tmp_path / "b.npz", X_ref=Xr, y_ref=yr, X=X + 3 * np.random.RandomState(0)
             .normal(size=X.shape), y=y)
    out = tmp_path / "report.html"
    assert main(["rank", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"),
                 "--bootstrap", "20", "--report", str(out)]) == 0
    page = _Page()
    page.feed(out.read_text())
    assert [r[1] for r in page.tables["ranking"][1:]] == ["a", "b"]
    assert "report written to" in capsys.readouterr().err
    assert main(["rank", str(tmp_path / "a.npz"), "--report", str(tmp_path / "r.pdf")]) == 2
