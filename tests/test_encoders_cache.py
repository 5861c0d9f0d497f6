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


class _Counting(torch.nn.Module):
    """A linear encoder that counts its forward passes (in this process)."""

    calls = 0

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(50, 4)
        with torch.no_grad():
            self.lin.weight.copy_(torch.arange(200, dtype=torch.float32).view(4, 50) / 200)
            self.lin.bias.zero_()

    def forward(self, x):
        _Counting.calls += 1
        return self.lin(x)


def test_memmapped_inputs_have_the_key_of_their_values(tmp_path):
    cache = EmbeddingCache(tmp_path)
    enc = torch.nn.Linear(3, 2)
    X = np.random.RandomState(0).normal(size=(10, 3)).astype(np.float32)
    np.save(tmp_path / "x.npy", X)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert isinstance(mm, np.memmap)
    assert cache.key(enc, mm) == cache.key(enc, X)


def test_a_second_scorer_after_parallel_workers_embeds_nothing(tmp_path):
    """joblib hands large arrays to its workers as memmaps; they used to get other cache
    keys than the parent, so every later call embedded the zoo again."""
    from sklearn_taskrel import rank_encoders
    from sklearn_taskrel.metrics import LogMEScorer

    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 3000)
    X = (rng.normal(size=(6000, 50)) + y[:, None]).astype(np.float32)  # 1.2 MB: memmapped
    zoo = {"a": _Counting, "b": lambda: torch.nn.Flatten()}
    first = rank_encoders(zoo, X, y, scorer=LogMEScorer(), cache=tmp_path, n_jobs=2,
                          device="cpu")
    assert first.attrs["cache"]["misses"] == 2
    _Counting.calls = 0
    second = rank_encoders(zoo, X, y, scorer="hscore", cache=tmp_path, device="cpu")
    assert second.attrs["cache"] == dict(second.attrs["cache"], hits=2, misses=0)
    assert _Counting.calls == 0  # no forward pass at all


def test_the_default_cache_folder_follows_the_platform_and_the_environment(tmp_path,
                                                                             monkeypatch):
    from sklearn_taskrel.encoders import default_cache_dir

    monkeypatch.delenv("SKLEARN_TASKREL_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr("sys.platform", "linux")
    assert default_cache_dir() == str(tmp_path / "xdg" / "sklearn_taskrel")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == str(tmp_path / "home" / ".cache" / "sklearn_taskrel")
    monkeypatch.setattr("sys.platform", "darwin")
    assert default_cache_dir() == str(tmp_path / "home" / "Library" / "Caches"
                                      / "sklearn_taskrel")
    monkeypatch.setenv("SKLEARN_TASKREL_CACHE", "$HOME/mine")
    assert default_cache_dir() == str(tmp_path / "home" / "mine")
    cache = as_cache(True)
    assert isinstance(cache, EmbeddingCache) and cache.location == str(tmp_path / "home" / "mine")
    assert as_cache(False) is None and as_cache(None) is None
