"""Command line: rank precomputed embeddings, help, and clear errors."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import make_task

from sklearn_taskrel.cli import build_parser, main


def _write(path, seed, noise=1.0, with_y=True):
    Xr, yr, means = make_task(n_per_class=20, n_classes=3, n_features=5, random_state=seed)
    X, y, _ = make_task(n_per_class=20, n_classes=3, n_features=5, random_state=seed + 1,
                        means=means, noise=noise)
    arrays = {"X_ref": Xr, "y_ref": yr, "X": X}
    if with_y:
        arrays["y"] = y
    np.savez(path, **arrays)
    return path


def test_rank_writes_table_json_and_csv(tmp_path, capsys):
    good = _write(tmp_path / "good.npz", 0, noise=0.5)
    bad = _write(tmp_path / "bad.npz", 0, noise=4.0)
    out_json, out_csv = tmp_path / "r.json", tmp_path / "r.csv"
    assert main(["rank", str(bad), str(good), "--json", str(out_json), "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "good" in printed and "bad" in printed
    rows = json.loads(out_json.read_text())
    assert [r["encoder"] for r in rows] == ["good", "bad"]
    assert rows[0]["task_relatedness"] < rows[1]["task_relatedness"]
    assert out_csv.read_text().splitlines()[0].startswith("encoder,task_relatedness")


def test_rank_transport_space_logits(tmp_path):
    good = _write(tmp_path / "good.npz", 0, noise=0.5)
    bad = _write(tmp_path / "bad.npz", 0, noise=4.0)
    out = tmp_path / "r.json"
    assert main(["rank", str(bad), str(good), "--transport-space", "logits",
                 "--json", str(out)]) == 0
    rows = json.loads(out.read_text())
    assert [r["encoder"] for r in rows] == ["good", "bad"]
    assert all(r["lipschitz"] == pytest.approx(2 ** 0.5) for r in rows)


@pytest.mark.parametrize("preset", ["ranking", "paper"])
def test_rank_preset_and_chance_level(tmp_path, preset):
    good = _write(tmp_path / "good.npz", 0, noise=0.5)
    bad = _write(tmp_path / "bad.npz", 0, noise=6.0)
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


def test_rank_label_free(tmp_path):
    f = _write(tmp_path / "enc.npz", 3, with_y=False)
    out = tmp_path / "r.json"
    assert main(["rank", str(f), "--label-free", "--pseudo-labels", "cluster",
                 "--json", str(out)]) == 0
    assert np.isfinite(json.loads(out.read_text())[0]["task_relatedness"])


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"not an archive", "cannot read"),
    ({"X": np.ones((3, 2))}, "lacks the arrays"),
])
def test_rank_clear_errors(tmp_path, content, message):
    path = tmp_path / "f.npz"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, dict):
        np.savez(path, **content)
    with pytest.raises(SystemExit, match=message):
        main(["rank", str(path)])


def test_rank_invalid_data_is_reported(tmp_path):
    path = tmp_path / "f.npz"
    np.savez(path, X_ref=np.ones((6, 3)), y_ref=np.arange(6) % 2, X=np.ones((4, 2)), y=[0, 1, 0, 1])
    with pytest.raises(SystemExit, match="same width"):
        main(["rank", str(path)])


def test_help_explains_every_option():
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
