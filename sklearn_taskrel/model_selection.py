"""Zoo selection: score many encoders with TR or any baseline, robustly and in parallel."""

import time
import traceback

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import clone

from sklearn_taskrel._bootstrap import (
    bootstrap_counts,
    resample_point_scores,
    summarize_bootstrap,
)
from sklearn_taskrel._reference import ReferenceTask, as_reference_task
from sklearn_taskrel.encoders._cache import as_cache
from sklearn_taskrel.encoders._extract import extract_embeddings
from sklearn_taskrel.encoders._specs import build_encoder

__all__ = ["SCORER_NAMES", "rank_embeddings", "rank_encoders"]

#: Names accepted by ``rank_encoders(scorer=...)``, with the estimator each builds.
SCORER_NAMES = {
    "tr": ("sklearn_taskrel._estimator", "TaskRelatednessScorer", {}),
    "tr_paper": ("sklearn_taskrel._estimator", "TaskRelatednessScorer", {"preset": "paper"}),
    "logme": ("sklearn_taskrel.metrics", "LogMEScorer", {}),
    "hscore": ("sklearn_taskrel.metrics", "HScoreScorer", {}),
    "regularized_hscore": ("sklearn_taskrel.metrics", "RegularizedHScoreScorer", {}),
    "nleep": ("sklearn_taskrel.metrics", "NLEEPScorer", {}),
    "gbc": ("sklearn_taskrel.metrics", "GBCScorer", {}),
    "transrate": ("sklearn_taskrel.metrics", "TransRateScorer", {}),
    "sfda": ("sklearn_taskrel.metrics", "SFDAScorer", {}),
    "otnce": ("sklearn_taskrel.metrics", "OTNCEScorer", {}),
    "etran": ("sklearn_taskrel.metrics", "ETranScorer", {}),
    "knn": ("sklearn_taskrel.metrics", "KNNAccuracyScorer", {}),
    "probe": ("sklearn_taskrel.metrics", "LinearProbeScorer", {}),
}
_SOURCE_HEAD_NAMES = {"leep": "LEEPScorer", "nce": "NCEScorer"}


def _scorer_name(est):
    cls = type(est).__name__
    if cls == "TaskRelatednessScorer":
        return "tr" if getattr(est, "preset", "ranking") == "ranking" else f"tr_{est.preset}"
    name = cls[:-len("Scorer")] if cls.endswith("Scorer") else cls
    return name.lower()


def _resolve_scorers(scorer, random_state):
    """``[(name, unfitted estimator), ...]`` from ``scorer`` (None, a name, an
    estimator, or a list of them)."""
    import importlib

    items = [None] if scorer is None else (
        list(scorer) if isinstance(scorer, (list, tuple)) else [scorer])
    if not items:
        raise ValueError("scorer must name at least one score; got an empty list.")
    out = []
    for item in items:
        if item is None:
            item = "tr"
        if isinstance(item, str):
            key = item.lower()
            if key in _SOURCE_HEAD_NAMES:
                raise ValueError(
                    f"scorer={item!r} needs each encoder's own source classifier, which a "
                    f"zoo of feature extractors does not have. Pass an instance, "
                    f"sklearn_taskrel.metrics.{_SOURCE_HEAD_NAMES[key]}(source_head=...), "
                    "for a zoo that shares one source head.")
            if key not in SCORER_NAMES:
                raise ValueError(
                    f"scorer={item!r} is not a known score; use one of "
                    f"{sorted(SCORER_NAMES)} or an estimator instance.")
            module, cls, params = SCORER_NAMES[key]
            est = getattr(importlib.import_module(module), cls)(**params)
            if "random_state" in est.get_params():
                est.set_params(random_state=random_state)
            out.append((key, est))
        elif hasattr(item, "fit") and hasattr(item, "get_params"):
            out.append((_scorer_name(item), item))
        else:
            raise TypeError(
                f"scorer must be None, a name, an estimator or a list of them; got "
                f"{type(item).__name__}.")
    names = [n for n, _ in out]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"scorer lists {dupes} more than once; give each score once.")
    return out


def _zoo_items(zoo):
    if isinstance(zoo, dict):
        return list(zoo.items())
    items = []
    for i, enc in enumerate(zoo):
        name = getattr(enc, "__name__", None) or type(enc).__name__
        items.append((f"{i}:{name}", enc))
    return items


def _resampled_scores(est, Z, y, counts, seed):
    """Scores of the fitted ``est`` on every resample of the target.

    An estimator with ``point_terms_`` re-weights them with the bootstrap ``counts``
    (one matrix-vector product): TR its per-point losses (transformations and plans
    fixed; no ``sign`` key, so negated), LogME, LEEP, NCE, GBC, TransRate, the
    H-score and the regularised H-score their influence terms, the first-order
    expansion ``T + sum_i (m_i - 1) g_i`` in the sample weights (the infinitesimal
    jackknife, Jaeckel 1972, Efron 1982; ``sign`` +1). Any other estimator is scored
    on half-samples drawn without replacement (the same draws for every encoder): a
    score that is not a mean of per-point terms would count a duplicated point
    twice, and the spread of half-sample scores around the full-sample score matches
    its sampling spread (the delete-``n/2`` jackknife).
    """
    terms = getattr(est, "point_terms_", None)
    # TR's terms describe its loss (no "sign": -1); a metric's describe its score
    # (influence terms that are not finite fall back to half-samples).
    if terms is not None and ("sign" not in terms or np.all(np.isfinite(terms["value"]))):
        sign = terms.get("sign", -1.0)
        return sign * resample_point_scores(terms["index"], terms["weight"],
                                            terms["value"], counts, offset=terms["offset"])
    out = np.empty(len(counts))
    n = len(Z)
    keys = np.random.RandomState(seed).random_sample((len(counts), n))
    for b in range(len(counts)):
        rows = np.sort(np.argsort(keys[b])[: max(2, n // 2)])
        out[b] = est.score(Z[rows], None if y is None else np.asarray(y)[rows])
    return out


def _score_embeddings(row, Z, y, reference, scorers, boot, embed_reference):
    """Fit every scorer on one encoder's embeddings ``Z``, filling ``row``; a scorer
    that fails records its error and does not stop the others. ``embed_reference(ref)``
    returns the embedded :class:`ReferenceTask` of a raw one (or ``ref`` itself)."""
    single = len(scorers) == 1
    errors = []
    row["n_features"] = int(Z.shape[1])
    row["fit_seconds"] = 0.0
    counts = (bootstrap_counts(len(Z), boot["n_bootstrap"], boot["seed"])
              if boot else None)
    for sname, scorer in scorers:
        prefix = "" if single else f"{sname}_"
        key = "score" if single else f"score_{sname}"
        row[key] = np.nan
        try:
            est = clone(scorer)
            params = {"encoder": None} if "encoder" in est.get_params() else {}
            if "reference" in est.get_params():
                # The call's reference, or the scorer's own, embedded by this encoder.
                ref = reference if reference is not None else as_reference_task(
                    scorer.get_params()["reference"])
                if ref is not None:
                    params["reference"] = embed_reference(ref)
            est.set_params(**params)
            t_fit = time.perf_counter()
            est.fit(Z, y)
            score = float(est.score(Z, y) if not hasattr(est, "task_relatedness_")
                          else -est.task_relatedness_)
            if not np.isfinite(score):
                raise FloatingPointError(f"the score is not finite ({score!r})")
            if counts is not None:
                row[f"_boot_{sname}"] = _resampled_scores(est, Z, y, counts, boot["seed"])
            row["fit_seconds"] += time.perf_counter() - t_fit
            row[key] = score
            if hasattr(est, "task_relatedness_"):
                row[f"{prefix}task_relatedness"] = est.task_relatedness_
                if single or "reweighted_reference_loss" not in row:  # first TR score
                    row.update(est.bound_terms_)
                row[f"{prefix}target_loss"] = est.target_loss_
                row["chance_level"] = est.chance_level_
                row[f"{prefix}beats_chance"] = bool(est.beats_chance_)
        except MemoryError:
            errors.append(f"{sname}: MemoryError: out of memory while scoring")
        except Exception as exc:  # one score failing must not stop the others
            errors.append(f"{type(exc).__name__}: {exc}" if single
                          else f"{sname}: {type(exc).__name__}: {exc}")
            row["traceback"] = traceback.format_exc(limit=5)
    return errors


def _score_one(name, encoder, X, y, reference, scorers, cache, extract_kwargs, boot):
    """Embed with one encoder and fit every scorer; never raises."""
    row = {"encoder": name, "error": None}
    hits0, misses0 = (cache.hits, cache.misses) if cache is not None else (0, 0)
    t0 = time.perf_counter()
    errors = []
    try:
        enc = build_encoder(encoder)
        embed = cache.extract if cache is not None else (lambda e, data, **kw: extract_embeddings(e, data, **kw))
        t_embed = time.perf_counter()
        Z = embed(enc, X, **extract_kwargs)
        row["embed_seconds"] = time.perf_counter() - t_embed
        embedded = {}

        def embed_reference(ref):
            if id(ref) not in embedded:
                t = time.perf_counter()
                Zr = embed(enc, ref.X, **extract_kwargs)
                Zr_eval = (embed(enc, ref.X_eval, **extract_kwargs)
                           if ref.X_eval is not None else None)
                embedded[id(ref)] = ReferenceTask(Zr, ref.y, X_eval=Zr_eval,
                                                  y_eval=ref.y_eval, name=ref.name)
                row["embed_seconds"] += time.perf_counter() - t
            return embedded[id(ref)]

        errors = _score_embeddings(row, Z, y, reference, scorers, boot, embed_reference)
    except MemoryError:
        errors.append("MemoryError: out of memory while scoring this encoder")
    except Exception as exc:  # one encoder failing must not stop the ranking
        errors.append(f"{type(exc).__name__}: {exc}")
        row["traceback"] = traceback.format_exc(limit=5)
    row["error"] = "; ".join(errors) if errors else None
    row["seconds"] = time.perf_counter() - t0
    if cache is not None:  # per row: workers hold their own copy of the counters
        row["cache_hits"] = cache.hits - hits0
        row["cache_misses"] = cache.misses - misses0
    return row


def _score_precomputed(name, Z, y, reference, scorers, boot):
    """Fit every scorer on precomputed embeddings (reference already embedded)."""
    row = {"encoder": name, "error": None, "embed_seconds": 0.0}
    t0 = time.perf_counter()
    try:
        errors = _score_embeddings(row, Z, y, reference, scorers, boot, lambda ref: ref)
    except Exception as exc:  # never raises
        errors = [f"{type(exc).__name__}: {exc}"]
        row["traceback"] = traceback.format_exc(limit=5)
    row["error"] = "; ".join(errors) if errors else None
    row["seconds"] = time.perf_counter() - t0
    return row


def _rank_column(values):
    """Ranks 1.. of a greater-is-better column (ties share the better rank; NaN stays)."""
    import pandas as pd

    return pd.Series(values).rank(ascending=False, method="min").to_numpy()


def _verdict(table, names, bootstrapped, confidence):
    """One paragraph saying who is best, who is within the noise, who beats chance."""
    lines = []
    ok = table[table["rank"].notna()]
    if ok.empty:
        return "No encoder could be scored; see the error column."
    best = ok.iloc[0]
    score_col = "score" if len(names) == 1 else "consensus_rank"
    head = f"{best['encoder']} ranks first"
    if len(names) > 1:
        head += f" by consensus of {', '.join(names)}"
    if bootstrapped:
        pcol = "p_best" if len(names) == 1 else f"p_best_{names[0]}"
        head += f" (p_best {best[pcol]:.2f}"
        head += ")" if len(names) == 1 else f" by {names[0]})"
        tcol = "tied_with_best" if len(names) == 1 else f"tied_with_best_{names[0]}"
        tied = [e for e, t in zip(ok["encoder"], ok[tcol]) if t and e != best["encoder"]]
        lines.append(head + ".")
        if tied:
            lines.append(f"{_join(tied)} {'is' if len(tied) == 1 else 'are'} within the "
                         f"noise of it (the {confidence:.0%} interval of the paired "
                         "difference contains 0).")
        else:
            lines.append(f"Its lead is beyond the noise (the {confidence:.0%} intervals "
                         "of the paired differences exclude 0).")
    else:
        lines.append(head + f" (score {best[score_col]:.4g}); rank with n_bootstrap=200 "
                     "(--bootstrap 200 on the command line) to see whether its lead is "
                     "beyond the noise.")
    beats = [c for c in table.columns if c.endswith("beats_chance")]
    if beats:
        col = beats[0]
        scored = ok[ok[col].notna()]
        not_related = [e for e, b in zip(scored["encoder"], scored[col]) if not b]
        chance = scored["chance_level"].iloc[0] if len(scored) else np.nan
        if len(scored) and len(not_related) == len(scored):
            lines.append(f"No encoder beats chance: every TR is above the target's label "
                         f"entropy ({chance:.3f} nats), so none is certified related.")
        elif not_related:
            lines.append(f"{_join(not_related)} {'does' if len(not_related) == 1 else 'do'}"
                         f" not beat chance (TR above the label entropy, {chance:.3f} "
                         "nats).")
    failed = list(table.loc[table["rank"].isna(), "encoder"])
    if failed:
        lines.append(f"{_join(failed)} could not be scored (see the error column).")
    return " ".join(lines)


def _join(names):
    names = [str(n) for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def rank_encoders(zoo, X, y=None, *, reference=None, scorer=None, n_jobs=None,
                  cache=None, batch_size=256, device="auto", mixed_precision=False,
                  n_bootstrap=0, confidence=0.9, verbose=0, random_state=None):
    """Score every encoder of a zoo and return a table sorted best first.

    Each encoder embeds the target (and the reference) once, through ``cache`` when
    given, then every scorer is fitted on the embeddings. An encoder that raises,
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
        Raw reference inputs and labels, for scores that need one (TR). ``None``:
        each scorer's own ``reference`` (raw inputs, embedded by every encoder).
    scorer : estimator, str, list of them, or None
        An unfitted estimator with ``encoder`` (and ``reference``) parameters and a
        greater-is-better ``score``, a name from :data:`SCORER_NAMES` (``"tr"``,
        ``"tr_paper"``, ``"logme"``, ``"hscore"``, ``"sfda"``, ...), or a list of
        them: one column per score (``score_<name>``, ``rank_<name>``), a
        ``consensus_rank`` (the rank of the mean of the scores' ranks) that orders
        the table, and the Kendall tau between the scores' rankings in
        ``table.attrs["agreement"]``. ``None`` is ``"tr"``,
        ``TaskRelatednessScorer(random_state=random_state)``.
    n_jobs : int or None
        Encoders scored in parallel with joblib; the active backend is used, so
        ``with joblib.parallel_config(backend="dask"):`` spreads the zoo over a
        Dask cluster (each encoder's work on one worker).
    cache : None, True, str, joblib.Memory or EmbeddingCache
        Embedding cache shared by every scorer, worker and call; ``True`` is the
        platform's cache folder (:func:`~sklearn_taskrel.encoders.default_cache_dir`).
    batch_size, device, mixed_precision :
        Passed to :func:`~sklearn_taskrel.encoders.extract_embeddings`.
    n_bootstrap : int, default=0
        Resamples of the target set (with replacement, shared by every encoder:
        paired) that measure how sure the ranking is. Adds ``score_low`` and
        ``score_high`` (the ``confidence`` percentile interval), ``p_best`` (the
        share of resamples in which the encoder ranks first) and
        ``tied_with_best`` (whether the interval of its paired difference to the
        first encoder contains 0), per score. TR re-weights its per-point terms with
        the fitted transformations kept (a matrix product: 200 resamples cost a
        small fraction of the fit); LogME, LEEP, NCE, GBC, TransRate, the H-score
        and its regularised form re-weight the influence of each point on the score,
        computed in closed form at the fit (the infinitesimal jackknife: the
        resample's score to first order in its counts; as cheap as TR's); the
        other scores are recomputed on half-samples drawn without replacement (a
        duplicated point would count twice in them).
        Each score's resamples are centred on its fitted value.
    confidence : float, default=0.9
        Coverage of the bootstrap intervals.
    verbose : int, default=0
        A progress bar over the encoders (joblib's messages with ``n_jobs`` > 1);
        cache hits and misses when > 1.
    random_state : int or None
        Seed of the named scorers and of the resamples.

    Returns
    -------
    table : pandas.DataFrame
        One row per encoder, best first: ``encoder``, ``rank``, ``score``,
        ``task_relatedness``, every bound term, ``chance_level`` and
        ``beats_chance`` (for TR), ``embed_seconds``, ``fit_seconds``, ``seconds``,
        ``n_features``, ``error`` (and ``cache_hits``/``cache_misses`` with a cache;
        totals in ``table.attrs["cache"]``). Failed encoders come last with
        ``score`` NaN. ``table.attrs["summary"]`` is a one-paragraph verdict: which
        encoder is best, which are within the noise of it, which do not beat
        chance.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.model_selection import rank_encoders
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20); X = rng.normal(size=(40, 4)) + 2 * y[:, None]
    >>> zoo = {"identity": lambda Z: Z, "noise": lambda Z: rng.normal(size=Z.shape),
    ...        "broken": lambda Z: Z[:, :1] * np.nan}
    >>> table = rank_encoders(zoo, X, y, reference=(X, y), random_state=0,
    ...                       n_bootstrap=100)
    >>> list(table["encoder"]), bool(table.loc[0, "p_best"] > 0.9)
    (['identity', 'noise', 'broken'], True)
    >>> table.loc[2, "error"].split(":")[0]
    'EncoderError'
    >>> both = rank_encoders(zoo, X, y, reference=(X, y), scorer=["tr", "logme"],
    ...                      random_state=0)
    >>> list(both["encoder"][:2]), list(both.columns[1:4])
    (['identity', 'noise'], ['rank', 'consensus_rank', 'score_tr'])
    """
    scorers = _resolve_scorers(scorer, random_state)
    names = [n for n, _ in scorers]
    boot = _check_bootstrap(n_bootstrap, confidence, random_state)
    reference = as_reference_task(reference)
    cache = as_cache(cache, verbose=max(0, verbose - 1))
    extract_kwargs = dict(batch_size=batch_size, device=device,
                          mixed_precision=mixed_precision)
    items = _zoo_items(zoo)
    if verbose and n_jobs in (None, 1):
        # In this process: a progress bar over the encoders, named as they finish.
        from sklearn_taskrel.encoders._batches import _progress

        bar = _progress(len(items), verbose, "ranking encoders", unit="encoder")
        rows = []
        for name, enc in items:
            rows.append(_score_one(name, enc, X, y, reference, scorers, cache,
                                   extract_kwargs, boot))
            if bar is not None:
                bar.set_postfix_str(str(name))
                bar.update(1)
        if bar is not None:
            bar.close()
    else:
        rows = Parallel(n_jobs=n_jobs, verbose=verbose)(
            delayed(_score_one)(name, enc, X, y, reference, scorers, cache, extract_kwargs,
                                boot)
            for name, enc in items)
    table = _ranking_table(rows, names, boot, confidence)
    if cache is not None:
        table.attrs["cache"] = {"hits": int(table["cache_hits"].sum()),
                                "misses": int(table["cache_misses"].sum()),
                                "size_bytes": cache.size_bytes()}
    return table


def _check_bootstrap(n_bootstrap, confidence, random_state):
    if not (isinstance(n_bootstrap, (int, np.integer)) and n_bootstrap >= 0):
        raise ValueError(f"n_bootstrap must be a non-negative integer; got {n_bootstrap!r}.")
    if n_bootstrap == 1:
        raise ValueError("n_bootstrap=1 gives no spread; use 0 (off) or at least 2.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie strictly between 0 and 1; got {confidence!r}.")
    if not n_bootstrap:
        return None
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max)
    return {"n_bootstrap": int(n_bootstrap), "seed": int(seed)}


def rank_embeddings(embeddings, y=None, *, scorer=None, n_bootstrap=0, confidence=0.9,
                    n_jobs=None, random_state=None):
    """:func:`rank_encoders` for embeddings computed elsewhere.

    Parameters
    ----------
    embeddings : dict of name -> Z or (Z, reference)
        Each encoder's target embeddings ``Z`` (n_samples, n_features), with its
        embedded reference task (a :class:`~sklearn_taskrel.ReferenceTask` or an
        ``(X_ref, y_ref)`` tuple of embeddings) for the scores that need one.
    y, scorer, n_bootstrap, confidence, n_jobs, random_state :
        As in :func:`rank_encoders`.

    Returns
    -------
    table : pandas.DataFrame
        As in :func:`rank_encoders`.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_taskrel.model_selection import rank_embeddings
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 20); Z = rng.normal(size=(40, 4)) + 2 * y[:, None]
    >>> table = rank_embeddings({"good": (Z, (Z, y)), "noise": (rng.normal(size=Z.shape),
    ...                          (Z, y))}, y, random_state=0)
    >>> list(table["encoder"])
    ['good', 'noise']
    """
    scorers = _resolve_scorers(scorer, random_state)
    names = [n for n, _ in scorers]
    boot = _check_bootstrap(n_bootstrap, confidence, random_state)
    items = []
    for name, item in embeddings.items():
        Z, ref = item if isinstance(item, tuple) and len(item) == 2 else (item, None)
        items.append((name, Z, as_reference_task(ref)))
    rows = Parallel(n_jobs=n_jobs)(
        delayed(_score_precomputed)(name, Z, y, ref, scorers, boot)
        for name, Z, ref in items)
    return _ranking_table(rows, names, boot, confidence)


def _ranking_table(rows, names, boot, confidence):
    """The sorted table (ranks, bootstrap summaries, consensus, verdict) of score rows."""
    import pandas as pd

    table = pd.DataFrame(rows)
    single = len(names) == 1
    score_cols = ["score"] if single else [f"score_{n}" for n in names]
    for col in score_cols:
        if col not in table:
            table[col] = np.nan
    if boot:
        for sname, col in zip(names, score_cols):
            bcol = f"_boot_{sname}"
            B = np.full((boot["n_bootstrap"], len(table)), np.nan)
            for i, arr in enumerate(table.get(bcol, [None] * len(table))):
                if isinstance(arr, np.ndarray):
                    B[:, i] = arr
            fitted = table[col].to_numpy(dtype=float)
            fitted = np.where(np.isfinite(B).all(axis=0), fitted, np.nan)
            summary = summarize_bootstrap(B, fitted, confidence=confidence)
            suffix = "" if single else f"_{sname}"
            for k, v in summary.items():
                table[f"{k}{suffix}"] = np.where(np.isfinite(fitted), v, np.nan) \
                    if k != "tied_with_best" else np.where(np.isfinite(fitted), v, False)
            if bcol in table:
                table = table.drop(columns=bcol)
    if single:
        order = table["score"]
        table = table.assign(_key=-order.fillna(-np.inf))
    else:
        ranks = np.column_stack([_rank_column(table[c].to_numpy(dtype=float))
                                 for c in score_cols])
        for sname, r in zip(names, ranks.T):
            table[f"rank_{sname}"] = r
        complete = np.isfinite(ranks).all(axis=1)
        mean_rank = np.where(complete, ranks.mean(axis=1), np.nan)
        table["consensus_rank"] = pd.Series(mean_rank).rank(method="min").to_numpy()
        table = table.assign(_key=table["consensus_rank"].fillna(np.inf))
        from scipy.stats import kendalltau

        agree = np.eye(len(names))
        for i in range(len(names)):
            for j in range(i + 1, len(names)):
                a, b = table[score_cols[i]], table[score_cols[j]]
                ok = a.notna() & b.notna()
                tau = kendalltau(a[ok], b[ok]).statistic if ok.sum() > 1 else np.nan
                agree[i, j] = agree[j, i] = tau
        table.attrs["agreement"] = pd.DataFrame(agree, index=names, columns=names)
    table = table.sort_values("_key", kind="stable").drop(columns="_key").reset_index(drop=True)
    ranked = (table["score"].notna() if single
              else table["consensus_rank"].notna())
    table.insert(1, "rank", np.where(ranked, np.arange(1, len(table) + 1), np.nan))
    if not single:
        front = ["encoder", "rank", "consensus_rank"] + score_cols
        table = table[front + [c for c in table.columns if c not in front]]
    table.attrs["scorers"] = names
    table.attrs["summary"] = _verdict(table, names, bool(boot), confidence)
    return table
