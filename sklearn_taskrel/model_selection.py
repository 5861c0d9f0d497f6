"""Zoo selection: score many encoders with TR or any baseline, robustly and in parallel."""

import time
import traceback

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone

from sklearn_taskrel._reference import ReferenceTask, as_reference_task
from sklearn_taskrel.encoders._base import build_encoder
from sklearn_taskrel.encoders._cache import as_cache
from sklearn_taskrel.encoders._extract import extract_embeddings

__all__ = ["rank_encoders"]


def _zoo_items(zoo):
    if isinstance(zoo, dict):
        return list(zoo.items())
    items = []
    for i, enc in enumerate(zoo):
        name = getattr(enc, "__name__", None) or type(enc).__name__
        items.append((f"{i}:{name}", enc))
    return items


def _score_one(name, encoder, X, y, reference, scorer, cache, extract_kwargs):
    """Fit ``scorer`` on one encoder's embeddings; never raises."""
    row = {"encoder": name, "score": np.nan, "error": None}
    hits0, misses0 = (cache.hits, cache.misses) if cache is not None else (0, 0)
    t0 = time.perf_counter()
    try:
        enc = build_encoder(encoder)
        embed = cache.extract if cache is not None else (lambda e, data, **kw: extract_embeddings(e, data, **kw))
        t_embed = time.perf_counter()
        Z = embed(enc, X, **extract_kwargs)
        est = clone(scorer)
        params = {"encoder": None} if "encoder" in est.get_params() else {}
        if reference is not None and "reference" in est.get_params():
            Zr = embed(enc, reference.X, **extract_kwargs)
            Zr_eval = (embed(enc, reference.X_eval, **extract_kwargs)
                       if reference.X_eval is not None else None)
            params["reference"] = ReferenceTask(Zr, reference.y, X_eval=Zr_eval,
                                                y_eval=reference.y_eval, name=reference.name)
        row["embed_seconds"] = time.perf_counter() - t_embed
        est.set_params(**params)
        t_fit = time.perf_counter()
        est.fit(Z, y)
        row["fit_seconds"] = time.perf_counter() - t_fit
        score = float(est.score(Z, y) if not hasattr(est, "task_relatedness_")
                      else -est.task_relatedness_)
        if not np.isfinite(score):
            raise FloatingPointError(f"the score is not finite ({score!r})")
        row["score"] = score
        if hasattr(est, "task_relatedness_"):
            row["task_relatedness"] = est.task_relatedness_
            row.update(est.bound_terms_)
            row["target_loss"] = est.target_loss_
        row["n_features"] = int(Z.shape[1])
    except MemoryError:
        row["error"] = "MemoryError: out of memory while scoring this encoder"
    except Exception as exc:  # one encoder failing must not stop the ranking
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=5)
    row["seconds"] = time.perf_counter() - t0
    if cache is not None:  # per row: workers hold their own copy of the counters
        row["cache_hits"] = cache.hits - hits0
        row["cache_misses"] = cache.misses - misses0
    return row


def rank_encoders(zoo, X, y=None, *, reference=None, scorer=None, n_jobs=None,
                  cache=None, batch_size=256, device="auto", mixed_precision=False,
                  verbose=0, random_state=None):
    """Score every encoder of a zoo and return a table sorted best first.

    Each encoder embeds the target (and the reference) once, through ``cache`` when
    given, then ``scorer`` is fitted on the embeddings. An encoder that raises,
    returns NaN or the wrong shape, or runs out of memory gets a row with its error
    and does not stop the others.

    Parameters
    ----------
    zoo : dict of name -> encoder, or list of encoders
        Encoders or zero-argument factories (see :mod:`sklearn_taskrel.encoders`).
    X : array-like or list
        Raw target inputs.
    y : array-like or None
        Target labels (``None``: label-free scores only).
    reference : ReferenceTask, tuple or None
        Raw reference inputs and labels, for scores that need one (TR).
    scorer : estimator or None
        An unfitted estimator with ``encoder`` (and ``reference``) parameters and a
        greater-is-better ``score``; ``None`` is
        ``TaskRelatednessScorer(random_state=random_state)``. Any estimator of
        :mod:`sklearn_taskrel.metrics` works.
    n_jobs : int or None
        Encoders scored in parallel with joblib; the active backend is used, so
        ``with joblib.parallel_config(backend="dask"):`` spreads the zoo over a
        Dask cluster (each encoder's work on one worker).
    cache : None, str, joblib.Memory or EmbeddingCache
        Embedding cache shared by every scorer and call.
    batch_size, device, mixed_precision :
        Passed to :func:`~sklearn_taskrel.encoders.extract_embeddings`.
    verbose : int, default=0
        joblib progress messages; cache hits and misses when > 1.
    random_state : int or None
        Seed of the default scorer.

    Returns
    -------
    table : pandas.DataFrame
        One row per encoder, best first: ``encoder``, ``rank``, ``score``,
        ``task_relatedness`` and every bound term (for TR), ``embed_seconds``,
        ``fit_seconds``, ``seconds``, ``n_features``, ``error`` (and
        ``cache_hits``/``cache_misses`` with a cache; totals in
        ``table.attrs["cache"]``). Failed encoders come last with ``score`` NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.model_selection import rank_encoders
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20); X = rng.normal(size=(40, 4)) + 2 * y[:, None]
    >>> zoo = {"identity": lambda Z: Z, "noise": lambda Z: rng.normal(size=Z.shape),
    ...        "broken": lambda Z: Z[:, :1] * np.nan}
    >>> table = rank_encoders(zoo, X, y, reference=(X, y), random_state=0)
    >>> list(table["encoder"])
    ['identity', 'noise', 'broken']
    >>> table.loc[2, "error"].split(":")[0]
    'EncoderError'
    """
    import pandas as pd

    from sklearn_taskrel._estimator import TaskRelatednessScorer

    if scorer is None:
        scorer = TaskRelatednessScorer(random_state=random_state)
    reference = as_reference_task(reference)
    cache = as_cache(cache, verbose=max(0, verbose - 1))
    extract_kwargs = dict(batch_size=batch_size, device=device,
                          mixed_precision=mixed_precision)
    rows = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_score_one)(name, enc, X, y, reference, scorer, cache, extract_kwargs)
        for name, enc in _zoo_items(zoo))
    table = pd.DataFrame(rows)
    table = table.sort_values("score", ascending=False, na_position="last",
                              kind="stable").reset_index(drop=True)
    table.insert(1, "rank", np.where(table["score"].notna(), np.arange(1, len(table) + 1), np.nan))
    if cache is not None:
        table.attrs["cache"] = {"hits": int(table["cache_hits"].sum()),
                                "misses": int(table["cache_misses"].sum()),
                                "size_bytes": cache.size_bytes()}
    return table
