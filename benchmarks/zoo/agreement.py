"""How well a method's scores rank a zoo: rank correlations, top-1 hit, regret.

For one target, ``scores[e]`` (greater = better expected transfer) is compared
with ``truth[e]`` (test accuracy) over the encoders ``e`` that have both:

* Kendall tau (``scipy.stats.kendalltau``, tau-b);
* weighted Kendall tau (``scipy.stats.weightedtau``: hyperbolic weights, so
  swaps among the top encoders count most);
* Pearson correlation of the raw scores with the accuracies;
* top-1 hit: whether the method's pick is the best encoder, and regret: the
  accuracy lost by the pick (best accuracy minus the pick's), in accuracy points
  (0-100). Ties in the top score are resolved by expectation over the tied picks.

A method whose scores are all equal ranks nothing: its correlations are reported
as 0 and the case is flagged ``constant``.
"""

import numpy as np
from scipy import stats


def agreement(scores, truth):
    """Agreement of one method with one ground truth on one target.

    Parameters
    ----------
    scores, truth : dict of encoder name -> float

    Returns
    -------
    result : dict or None
        ``None`` when fewer than 3 encoders have both a score and a truth.
    """
    names = [e for e in scores if e in truth and scores[e] is not None
             and truth[e] is not None]
    if len(names) < 3:
        return None
    s = np.array([scores[e] for e in names], dtype=float)
    t = np.array([truth[e] for e in names], dtype=float)
    constant = bool(np.ptp(s) <= 1e-12 * max(1.0, np.abs(s).max()))
    truth_constant = bool(np.ptp(t) == 0)
    if constant or truth_constant:
        tau = wtau = rho = 0.0
    else:
        tau = float(stats.kendalltau(s, t).statistic)
        wtau = float(stats.weightedtau(s, t).statistic)
        rho = float(stats.pearsonr(s, t).statistic)
    tied = np.flatnonzero(s >= s.max() - 1e-12 * max(1.0, abs(s.max())))
    best = t.max()
    hit = float(np.mean(t[tied] >= best))
    regret = float(100.0 * np.mean(best - t[tied]))
    out = {"n_encoders": len(names), "kendall_tau": _finite(tau),
           "weighted_tau": _finite(wtau), "pearson": _finite(rho), "top1": hit,
           "regret": regret, "pick": names[int(tied[0])] if len(tied) == 1 else None,
           "best": names[int(np.argmax(t))]}
    if constant:
        out["constant"] = True
    return out


def _finite(x):
    return float(x) if np.isfinite(x) else 0.0


METRICS = ("weighted_tau", "kendall_tau", "pearson", "top1", "regret")


def average(per_target):
    """Mean of each agreement metric over the targets that have one."""
    rows = [r for r in per_target.values() if r is not None]
    if not rows:
        return None
    out = {m: float(np.mean([r[m] for r in rows])) for m in METRICS}
    out["n_targets"] = len(rows)
    out["n_constant"] = int(sum(bool(r.get("constant")) for r in rows))
    return out


def seed_ceiling(per_seed):
    """Kendall tau between each seed's fine-tuned ranking and the mean of the others.

    An estimate of how well *any* score could agree with the fine-tuned ranking,
    given the seed-to-seed noise of fine-tuning (``None`` with fewer than 2 seeds).

    Parameters
    ----------
    per_seed : dict of encoder name -> list of per-seed accuracies
    """
    names = list(per_seed)
    runs = np.array([per_seed[e] for e in names], dtype=float)   # (encoders, seeds)
    if runs.ndim != 2 or runs.shape[1] < 2 or len(names) < 3:
        return None
    taus = []
    for k in range(runs.shape[1]):
        rest = np.delete(runs, k, axis=1).mean(axis=1)
        if np.ptp(runs[:, k]) == 0 or np.ptp(rest) == 0:
            continue
        taus.append(stats.kendalltau(runs[:, k], rest).statistic)
    return float(np.mean(taus)) if taus else None
