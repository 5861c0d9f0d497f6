"""Embedding cache (sklearn_taskrel.encoders._cache)."""

import numpy as np
import torch

from sklearn_taskrel.encoders import EmbeddingCache
from sklearn_taskrel.encoders._cache import as_cache


def test_home_and_environment_variables_are_expanded(tmp_path, monkeypatch):
    """``cache="~/.cache/taskrel"`` used to create a literal ``./~`` folder."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("TASKREL_CACHE_ROOT", str(tmp_path / "env"))
    monkeypatch.chdir(tmp_path)
    enc, X = torch.nn.Linear(3, 2), np.ones((4, 3), np.float32)
    home = as_cache("~/.cache/taskrel")
    home.extract(enc, X, device="cpu")
    assert home.location == str(tmp_path / "home" / ".cache" / "taskrel")
    assert any((tmp_path / "home" / ".cache" / "taskrel").iterdir())
    assert not (tmp_path / "~").exists()
    env = EmbeddingCache("$TASKREL_CACHE_ROOT/emb")
    env.extract(enc, X, device="cpu")
    assert env.location == str(tmp_path / "env" / "emb")
    assert any((tmp_path / "env" / "emb").iterdir())
    assert not (tmp_path / "$TASKREL_CACHE_ROOT").exists()
