"""rank_encoders: failures recorded, embedding cache, parallel and Dask backends."""

import numpy as np
import pytest
import torch
from conftest import make_task
from numpy.testing import assert_allclose

from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer, rank_encoders
from sklearn_taskrel.encoders import EmbeddingCache


@pytest.fixture(scope="module")
def data():
    Xr, yr, means = make_task(n_per_class=30, n_classes=3, n_features=6, random_state=0)
    Xt, yt, _ = make_task(n_per_class=30, n_classes=3, n_features=6, random_state=1, means=means)
    return Xr.astype(np.float32), yr, Xt.astype(np.float32), yt


def _linear(seed, width=4):
    def factory():
        gen = torch.Generator().manual_seed(seed)
        lin = torch.nn.Linear(6, width)
        with torch.no_grad():
            lin.weight.copy_(torch.randn(width, 6, generator=gen))
            lin.bias.zero_()
        return lin
    factory.__name__ = f"linear{seed}"
    return factory


def _raises(batch):
    raise RuntimeError("weights missing")


def test_failing_encoders_are_recorded_and_do_not_stop_others(data):
    Xr, yr, Xt, yt = data
    zoo = {"a": _linear(0), "b": _linear(1), "raises": _raises,
           "nan": lambda b: np.full((len(b), 4), np.nan),
           "wrong_shape": lambda b: np.ones((len(b) + 1, 4)),
           "oom": _OOM()}
    table = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0, device="cpu")
    assert list(table["encoder"][:2]) in (["a", "b"], ["b", "a"])
    assert table["score"][:2].notna().all()
    failed = table.set_index("encoder").loc[["raises", "nan", "wrong_shape", "oom"]]
    assert failed["score"].isna().all()
    assert "weights missing" in failed.loc["raises", "error"]
    assert "NaN" in failed.loc["nan", "error"]
    assert "shape" in failed.loc["wrong_shape", "error"]
    assert failed.loc["oom", "error"].startswith("MemoryError")
    assert list(table["rank"][:2]) == [1, 2]
    # TR rows carry every bound term and the timings.
    for col in ("task_relatedness", "reweighted_reference_loss", "conditional_entropy",
                "wasserstein", "lipschitz", "transport", "embed_seconds", "fit_seconds"):
        assert col in table.columns
    assert np.allclose(table["score"][:2], -table["task_relatedness"][:2])


class _OOM:
    def __call__(self, batch):
        raise MemoryError()


def test_rank_matches_individual_fits(data):
    Xr, yr, Xt, yt = data
    zoo = {"a": _linear(0), "b": _linear(1)}
    table = rank_encoders(zoo, Xt, yt, reference=ReferenceTask(Xr, yr), random_state=0,
                          device="cpu")
    for name, factory in zoo.items():
        est = TaskRelatednessScorer(reference=(Xr, yr), encoder=factory, random_state=0,
                                    device="cpu").fit(Xt, yt)
        row = table.set_index("encoder").loc[name]
        assert row["task_relatedness"] == pytest.approx(est.task_relatedness_, rel=1e-6)


def test_embedding_cache_hits_on_second_call(data, tmp_path):
    Xr, yr, Xt, yt = data
    zoo = {"a": _linear(0), "b": _linear(1)}
    first = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), cache=str(tmp_path),
                          random_state=0, device="cpu")
    assert first.attrs["cache"]["misses"] == 4 and first.attrs["cache"]["hits"] == 0
    second = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), cache=str(tmp_path),
                           random_state=0, device="cpu")
    assert second.attrs["cache"] == {**second.attrs["cache"], "hits": 4, "misses": 0}
    assert second.attrs["cache"]["size_bytes"] > 0
    assert np.allclose(first["score"], second["score"])


def test_estimator_memory_parameter_shares_the_cache(data, tmp_path):
    Xr, yr, Xt, yt = data
    cache = EmbeddingCache(tmp_path)
    est = TaskRelatednessScorer(reference=(Xr, yr), encoder=_linear(3), memory=cache,
                                random_state=0, device="cpu")
    est.fit(Xt, yt)
    assert (cache.hits, cache.misses) == (0, 2)
    est.fit(Xt, yt)
    assert (cache.hits, cache.misses) == (2, 2)


def test_parallel_joblib_processes(data):
    Xr, yr, Xt, yt = data
    zoo = {f"m{i}": _linear(i) for i in range(3)}
    serial = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0, device="cpu")
    parallel = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0, n_jobs=2,
                             device="cpu")
    assert list(serial["encoder"]) == list(parallel["encoder"])
    assert np.allclose(serial["score"], parallel["score"])


def test_dask_backend_local_cluster(data):
    distributed = pytest.importorskip("dask.distributed")
    import joblib

    Xr, yr, Xt, yt = data
    zoo = {f"m{i}": _linear(i) for i in range(3)}
    serial = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0, device="cpu")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        with joblib.parallel_config(backend="dask"):
            table = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0,
                                  n_jobs=-1, device="cpu")
        assert len(client.scheduler_info()["workers"]) == 2
    assert list(table["encoder"]) == list(serial["encoder"])
    assert np.allclose(table["score"], serial["score"])


def test_any_metric_estimator_as_scorer(data):
    metrics = pytest.importorskip("sklearn_taskrel.metrics")
    scorer_cls = getattr(metrics, "LogMEScorer", None)
    if scorer_cls is None:
        pytest.skip("LogMEScorer not available")
    Xr, yr, Xt, yt = data
    table = rank_encoders({"a": _linear(0), "b": _linear(1)}, Xt, yt, scorer=scorer_cls(),
                          device="cpu")
    assert table["score"].notna().all()
    assert "task_relatedness" not in table.columns


def test_ray_backend(data):
    ray = pytest.importorskip("ray")
    import joblib
    from ray.util.joblib import register_ray

    Xr, yr, Xt, yt = data
    zoo = {f"m{i}": _linear(i) for i in range(3)}
    serial = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0, device="cpu")
    register_ray()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             configure_logging=False)
    try:
        with joblib.parallel_config(backend="ray"):
            table = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0,
                                  n_jobs=2, device="cpu")
    finally:
        ray.shutdown()
    assert list(table["encoder"]) == list(serial["encoder"])
    assert np.allclose(table["score"], serial["score"])


# --------------------------------------------------------------- a zoo whose order is known
def _known_order_zoo():
    """Raw 16-d inputs of a 4-class task and four encoders with a known order:
    the identity (all the information), a random 12 -> 3 projection, a 16 -> 1 linear
    squeeze and features unrelated to the input classes (a high-frequency sine)."""
    gen = torch.Generator().manual_seed(5)

    def linear(weight):
        lin = torch.nn.Linear(weight.shape[1], weight.shape[0], bias=False)
        with torch.no_grad():
            lin.weight.copy_(weight)
        return lin

    class Scramble(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("R", torch.randn(16, 8, generator=gen))

        def forward(self, x):
            return torch.sin(1000.0 * x @ self.R)

    proj = torch.zeros(3, 16)
    proj[:, :12] = torch.randn(3, 12, generator=gen)
    squeeze = torch.randn(1, 16, generator=gen)

    def identity():
        return torch.nn.Identity()

    def projection():
        return linear(proj)

    def squeezed():
        return linear(squeeze)

    def scrambled():
        return Scramble()

    return {"identity": identity, "projection_12_3": projection, "squeeze_16_1": squeezed,
            "unrelated": scrambled}


@pytest.fixture(scope="module")
def known_order():
    Xr, yr, means = make_task(n_per_class=60, n_classes=4, n_features=16, random_state=0)
    Xt, yt, _ = make_task(n_per_class=50, n_classes=4, n_features=16, random_state=1,
                          means=means)
    return Xr.astype(np.float32), yr, Xt.astype(np.float32), yt


@pytest.mark.parametrize("labels", [True, False])
def test_rank_encoders_puts_the_informative_encoder_first(known_order, labels):
    Xr, yr, Xt, yt = known_order
    table = rank_encoders(_known_order_zoo(), Xt, yt if labels else None,
                          reference=ReferenceTask(Xr, yr), random_state=0, device="cpu")
    order = list(table["encoder"])
    assert order[0] == "identity"
    tr = table.set_index("encoder")["task_relatedness"]
    for other in ("projection_12_3", "squeeze_16_1", "unrelated"):
        assert tr["identity"] < tr[other] - 0.1
    if labels:  # balanced classes: the chance level is log 4
        assert tr["identity"] < np.log(4) < tr["unrelated"]


def test_grid_search_over_the_zoo_picks_the_informative_encoder(known_order):
    from sklearn.model_selection import GridSearchCV

    Xr, yr, Xt, yt = known_order
    zoo = _known_order_zoo()
    est = TaskRelatednessScorer(reference=ReferenceTask(Xr, yr), random_state=0, device="cpu")
    grid = GridSearchCV(est, {"encoder": list(zoo.values())}, cv=3).fit(Xt, yt)
    assert grid.best_params_["encoder"] is zoo["identity"]
    scores = dict(zip(zoo, grid.cv_results_["mean_test_score"]))
    assert scores["identity"] > max(v for k, v in scores.items() if k != "identity") + 0.1


# ------------------------------------------------- uncertainty, several scores, a verdict
def test_bootstrap_separates_an_informative_encoder_from_noise(known_order):
    Xr, yr, Xt, yt = known_order
    zoo = _known_order_zoo()
    table = rank_encoders({"identity": zoo["identity"], "unrelated": zoo["unrelated"]}, Xt,
                          yt, reference=ReferenceTask(Xr, yr), random_state=0,
                          device="cpu", n_bootstrap=200)
    row = table.set_index("encoder")
    assert row.loc["identity", "p_best"] >= 0.95
    assert row.loc["identity", "p_best"] + row.loc["unrelated", "p_best"] == pytest.approx(1)
    assert not row.loc["unrelated", "tied_with_best"]
    for enc in ("identity", "unrelated"):
        assert row.loc[enc, "score_low"] <= row.loc[enc, "score"] <= row.loc[enc, "score_high"]
    assert row.loc["identity", "score_low"] > row.loc["unrelated", "score_high"]
    assert "identity ranks first (p_best" in table.attrs["summary"]
    assert "unrelated does not beat chance" in table.attrs["summary"]


def test_bootstrap_of_the_per_point_terms_matches_brute_force(data):
    """TR's resampled scores re-weight its held-out per-point terms: checked against
    the terms recomputed by hand from the fold refits' plans (weights, offset) and
    against the fitted TR when every point is drawn once."""
    from sklearn_taskrel._bootstrap import bootstrap_counts, resample_point_scores

    Xr, yr, Xt, yt = data
    est = TaskRelatednessScorer(reference=(Xr, yr), random_state=0).fit(Xt, yt)
    t = est.point_terms_
    assert t["weight"].sum() == pytest.approx(1.0)
    assert t["weight"] @ t["value"] + t["offset"] == pytest.approx(est.task_relatedness_,
                                                                  rel=1e-9)
    ones = np.ones((1, len(yt)))
    assert resample_point_scores(t["index"], t["weight"], t["value"], ones,
                                 offset=t["offset"])[0] == pytest.approx(
        est.task_relatedness_, rel=1e-9)
    # one fold's points alone: their mean is that fold's held-out TR
    fold0 = np.isin(t["index"], est.cv_folds_[0])
    assert t["value"][fold0].mean() + est.fold_terms_[0]["conditional_entropy"] == \
        pytest.approx(est.fold_terms_[0]["task_relatedness"], rel=1e-9)
    counts = bootstrap_counts(len(yt), 50, 0)
    direct = np.array([(c[t["index"]] * t["weight"]) @ t["value"]
                       / (c[t["index"]] @ t["weight"]) for c in counts]) + t["offset"]
    assert_allclose(resample_point_scores(t["index"], t["weight"], t["value"], counts,
                                          offset=t["offset"]), direct, rtol=1e-12)


def test_bootstrap_calls_a_rotated_copy_a_tie(known_order):
    """Two encoders whose embeddings differ by a rotation: with a rotation-invariant
    setting (one scale per domain, terms on the fitting sample) their TRs agree, each
    is first in about half of the resamples, and their intervals overlap."""
    Xr, yr, Xt, yt = known_order
    Q = np.linalg.qr(np.random.RandomState(0).normal(size=(16, 16)))[0].astype(np.float32)

    def rotated():
        lin = torch.nn.Linear(16, 16, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(Q.T))
        return lin

    scorer = TaskRelatednessScorer(scaling="global", cross_fit="off", random_state=0,
                                   device="cpu")
    table = rank_encoders({"identity": torch.nn.Identity, "rotated": rotated}, Xt, yt,
                          reference=ReferenceTask(Xr, yr), scorer=scorer, random_state=0,
                          device="cpu", n_bootstrap=100)
    row = table.set_index("encoder")
    assert row.loc["identity", "score"] == pytest.approx(row.loc["rotated", "score"],
                                                         rel=1e-4)
    assert row.loc["identity", "p_best"] == pytest.approx(0.5, abs=0.15)
    assert row["tied_with_best"].all()
    assert row.loc["identity", "score_low"] < row.loc["rotated", "score_high"]
    assert row.loc["rotated", "score_low"] < row.loc["identity", "score_high"]
    assert "within the noise" in table.attrs["summary"]


def _influence_scorers():
    """Scores whose bootstrap re-weights influence terms (``point_terms_``), each
    with an encoder of the known-order task that should tie with the identity: a
    rotation for the scores invariant to one, a permutation of the features (the
    source classes, for the scores of a source head) for the others."""
    from sklearn_taskrel.metrics import (
        GBCScorer,
        HScoreScorer,
        LEEPScorer,
        LogMEScorer,
        NCEScorer,
        RegularizedHScoreScorer,
        TransRateScorer,
    )

    return {"logme": (LogMEScorer(), "rotation"), "hscore": (HScoreScorer(), "rotation"),
            "regularized_hscore": (RegularizedHScoreScorer(), "rotation"),
            "gbc": (GBCScorer(), "rotation"),  # spherical: invariant to a rotation
            "transrate": (TransRateScorer(), "rotation"),
            "leep": (LEEPScorer(), "permutation"), "nce": (NCEScorer(), "permutation")}


def _orthogonal_encoder(kind):
    rng = np.random.RandomState(0)
    Q = (np.linalg.qr(rng.normal(size=(16, 16)))[0] if kind == "rotation"
         else np.eye(16)[rng.permutation(16)]).astype(np.float32)

    def transformed():
        lin = torch.nn.Linear(16, 16, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(Q.T))
        return lin

    return transformed


@pytest.mark.parametrize("name", sorted(_influence_scorers()))
def test_influence_bootstrap_calls_a_transformed_copy_a_tie(known_order, name):
    """Each score with influence terms: an encoder equal to the identity up to a
    transformation the score ignores is first in about half of the resamples, within
    the noise, with overlapping intervals."""
    from sklearn.base import clone

    scorer, kind = _influence_scorers()[name]
    Xr, yr, Xt, yt = known_order
    assert hasattr(clone(scorer).fit(Xt, yt), "point_terms_")  # not half-samples
    table = rank_encoders({"identity": torch.nn.Identity,
                           "transformed": _orthogonal_encoder(kind)}, Xt, yt,
                          scorer=scorer, random_state=0, device="cpu", n_bootstrap=200)
    row = table.set_index("encoder")
    assert row.loc["identity", "score"] == pytest.approx(row.loc["transformed", "score"],
                                                         rel=1e-4, abs=1e-6)
    assert row.loc["identity", "p_best"] == pytest.approx(0.5, abs=0.15)
    assert row["tied_with_best"].all()
    assert row.loc["identity", "score_low"] < row.loc["transformed", "score_high"]
    assert row.loc["transformed", "score_low"] < row.loc["identity", "score_high"]


@pytest.mark.parametrize("name", sorted(_influence_scorers()))
def test_influence_bootstrap_separates_an_informative_encoder_from_noise(known_order,
                                                                         name):
    scorer, _ = _influence_scorers()[name]
    Xr, yr, Xt, yt = known_order
    zoo = _known_order_zoo()
    table = rank_encoders({"identity": zoo["identity"], "unrelated": zoo["unrelated"]}, Xt,
                          yt, scorer=scorer, random_state=0, device="cpu",
                          n_bootstrap=200)
    row = table.set_index("encoder")
    assert row.loc["identity", "p_best"] >= 0.95
    assert not row.loc["unrelated", "tied_with_best"]
    for enc in ("identity", "unrelated"):
        assert row.loc[enc, "score_low"] <= row.loc[enc, "score"] <= row.loc[enc, "score_high"]
    assert row.loc["identity", "score_low"] > row.loc["unrelated", "score_high"]


def test_influence_terms_that_are_not_finite_fall_back_to_half_samples(data):
    from sklearn_taskrel._bootstrap import bootstrap_counts
    from sklearn_taskrel.metrics import LogMEScorer, logme_score
    from sklearn_taskrel.model_selection import _resampled_scores

    Xr, yr, Xt, yt = data
    Z = Xt.astype(np.float64)
    est = LogMEScorer().fit(Z, yt)
    counts = bootstrap_counts(len(yt), 5, 0)
    est.point_terms_["value"][3] = np.nan
    got = _resampled_scores(est, Z, yt, counts, seed=11)
    keys = np.random.RandomState(11).random_sample((5, len(yt)))
    halves = [np.sort(np.argsort(k)[:len(yt) // 2]) for k in keys]
    assert_allclose(got, [logme_score(Z[h], yt[h]) for h in halves], rtol=1e-12)


def test_bootstrap_works_for_any_metric_and_is_deterministic(data):
    """A score without influence terms (k-NN accuracy) is recomputed on half-samples."""
    from sklearn_taskrel.metrics import KNNAccuracyScorer

    Xr, yr, Xt, yt = data
    zoo = {"a": _linear(0), "b": _linear(1)}
    kw = dict(scorer=KNNAccuracyScorer(n_neighbors=3), n_bootstrap=20, random_state=3)
    t1 = rank_encoders(zoo, Xt, yt, **kw)
    t2 = rank_encoders(zoo, Xt, yt, **kw)
    assert_allclose(t1["score_low"], t2["score_low"])
    assert_allclose(t1["p_best"], t2["p_best"])
    assert t1["p_best"].sum() == pytest.approx(1.0)
    from sklearn_taskrel.encoders import extract_embeddings
    from sklearn_taskrel.metrics import knn_accuracy_score

    # recomputed by brute force: the score of each half-sample drawn without replacement
    seed = np.random.RandomState(3).randint(np.iinfo(np.int32).max)
    keys = np.random.RandomState(seed).random_sample((20, len(yt)))
    Z = extract_embeddings(_linear(0)(), Xt).astype(np.float64)
    halves = [np.sort(np.argsort(k)[:len(yt) // 2]) for k in keys]
    assert all(len(np.unique(h)) == len(yt) // 2 for h in halves)  # no duplicates
    scores = [knn_accuracy_score(Z[h], yt[h], n_neighbors=3) for h in halves]
    row = t1.set_index("encoder").loc["a"]
    centred = np.array(scores) - np.mean(scores) + row["score"]
    assert row["score_low"] == pytest.approx(np.quantile(centred, 0.05), rel=1e-6)
    assert row["score_high"] == pytest.approx(np.quantile(centred, 0.95), rel=1e-6)


def test_several_scores_in_one_call_embed_once(data, tmp_path):
    Xr, yr, Xt, yt = data
    zoo = {"a": _linear(0), "b": _linear(1), "c": _linear(2, width=2)}
    cache = EmbeddingCache(tmp_path)
    table = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), scorer=["tr", "logme", "hscore"],
                          cache=cache, random_state=0)
    assert list(table.columns[:6]) == ["encoder", "rank", "consensus_rank", "score_tr",
                                       "score_logme", "score_hscore"]
    assert table.attrs["cache"]["misses"] == 6  # target and reference, once per encoder
    singles = {name: rank_encoders(zoo, Xt, yt, reference=(Xr, yr), scorer=name,
                                   cache=cache, random_state=0).set_index("encoder")["score"]
               for name in ("tr", "logme", "hscore")}
    row = table.set_index("encoder")
    for name, s in singles.items():
        assert_allclose(row[f"score_{name}"], s[row.index], rtol=1e-9)
        assert list(row[f"rank_{name}"].sort_values().index) == list(s.sort_values(
            ascending=False).index)
    mean_rank = row[["rank_tr", "rank_logme", "rank_hscore"]].mean(axis=1)
    assert list(table["encoder"]) == list(mean_rank.sort_values(kind="stable").index)
    agree = table.attrs["agreement"]
    from scipy.stats import kendalltau
    assert agree.loc["tr", "logme"] == pytest.approx(
        kendalltau(row["score_tr"], row["score_logme"]).statistic)
    assert agree.loc["tr", "tr"] == 1.0


def test_scorer_names_are_checked(data):
    Xr, yr, Xt, yt = data
    with pytest.raises(ValueError, match="not a known score"):
        rank_encoders({"a": _linear(0)}, Xt, yt, scorer="logmee")
    with pytest.raises(ValueError, match="source classifier"):
        rank_encoders({"a": _linear(0)}, Xt, yt, scorer=["tr", "leep"])
    with pytest.raises(ValueError, match="more than once"):
        rank_encoders({"a": _linear(0)}, Xt, yt, scorer=["logme", "logme"])
    with pytest.raises(ValueError, match="n_bootstrap"):
        rank_encoders({"a": _linear(0)}, Xt, yt, n_bootstrap=-1)
    with pytest.raises(ValueError, match="confidence"):
        rank_encoders({"a": _linear(0)}, Xt, yt, n_bootstrap=10, confidence=1.5)


def test_the_scorers_own_raw_reference_is_embedded_by_each_encoder(data):
    """A scorer built with a raw reference (no reference= to rank_encoders) gets it
    embedded by every encoder of the zoo, as the call's reference would be."""
    Xr, yr, Xt, yt = data
    zoo = {"a": _linear(0), "b": _linear(1, width=3)}
    own = rank_encoders(zoo, Xt, yt, random_state=0,
                        scorer=TaskRelatednessScorer(reference=(Xr, yr), random_state=0))
    call = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0)
    assert own["error"].isna().all()
    assert_allclose(own.set_index("encoder")["score"], call.set_index("encoder")["score"])


def test_verdict_when_no_encoder_beats_chance(data):
    Xr, yr, Xt, yt = data
    rng = np.random.RandomState(0)
    zoo = {"noise1": lambda Z: rng.normal(size=Z.shape),
           "noise2": lambda Z: rng.normal(size=Z.shape)}
    table = rank_encoders(zoo, Xt, yt, reference=(Xr, yr), random_state=0)
    assert not table["beats_chance"].any()
    assert "No encoder beats chance" in table.attrs["summary"]
    assert "n_bootstrap=200" in table.attrs["summary"]


def test_verbose_ranking_shows_a_progress_bar_over_the_encoders(data, capsys):
    Xr, yr, Xt, yt = data
    rank_encoders({"a": _linear(0), "b": _linear(1)}, Xt, yt, scorer="logme", verbose=1)
    err = capsys.readouterr().err
    assert "ranking encoders" in err and "1/2 [" in err and "encoder/s" in err
    rank_encoders({"a": _linear(0)}, Xt, yt, scorer="logme")
    assert capsys.readouterr().err == ""  # quiet by default
