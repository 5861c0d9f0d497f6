"""Run one zoo: embed every pool once, build references, ground truth and scores.

:func:`prepare_zoo` returns a :class:`ZooData` holding the embeddings, the source
posteriors, the reference samples and the ground truth of one zoo;
:func:`score_methods` scores every (encoder, target) with a list of methods.
Both read and write the caches, so the ablation script reuses all of it.
"""

import sys
import time
from dataclasses import dataclass, field

import joblib
import numpy as np

from benchmarks.zoo import ground_truth as gt
from benchmarks.zoo import tasks
from benchmarks.zoo.methods import Case
from benchmarks.zoo.store import METRICS_CODE, TR_CODE, code_fingerprint

SMALL_REFERENCE = "fmnist_pretraining_task"
TEXT_REFERENCE = "wordnet_verb10"


def log(msg):
    print(f"[zoo {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _softmax(logits):
    z = logits - logits.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    return z / z.sum(axis=1, keepdims=True)


@dataclass
class ZooData:
    """Everything one zoo's methods and reports need."""

    name: str
    settings: object
    pools: dict
    targets: dict
    zoo: object
    Z: dict = field(default_factory=dict)            # encoder -> pool -> (n_pool, d) float32
    proba: dict = field(default_factory=dict)        # encoder -> pool -> source posteriors
    embed_seconds: dict = field(default_factory=dict)
    reference_options: tuple = ()
    default_reference: str = None
    reference_info: dict = field(default_factory=dict)
    ground_truth: dict = field(default_factory=dict)  # target -> encoder -> dict
    _consensus: dict = field(default_factory=dict)

    @property
    def encoders(self):
        return self.zoo.names

    # ------------------------------------------------------------------ references
    def references(self, encoder, target):
        """Reference name -> (Z_ref float64, y_ref) for one encoder and target."""
        return {name: self._reference(name, encoder, target)
                for name in self.reference_options}

    def _reference(self, name, encoder, target):
        if name in (SMALL_REFERENCE, TEXT_REFERENCE):
            pool = self.pools["fmnist" if name == SMALL_REFERENCE else "wordnet_verb"]
            idx = pool.part("ref")
            return self.Z[encoder][pool.name][idx].astype(np.float64), pool.y[idx]
        if name == "other_dataset":
            pool = self.pools["digits" if self.targets[target].pool == "fmnist" else "fmnist"]
            idx = pool.part("ref")
            return self.Z[encoder][pool.name][idx].astype(np.float64), pool.y[idx]
        # ImageNet-head references: the reference parts of every pool, labelled by
        # ImageNet heads, restricted to the most frequent predicted classes.
        Zr = np.concatenate([self.Z[encoder][p][self.pools[p].part("ref")]
                             for p in sorted(self.pools)]).astype(np.float64)
        if name == "imagenet_consensus":
            labels = self.consensus_labels()
        elif name == "imagenet_own_head":
            labels = np.concatenate([self.proba[encoder][p][self.pools[p].part("ref")]
                                     for p in sorted(self.pools)]).argmax(1)
        else:
            raise ValueError(name)
        keep, y = top_classes(labels, self.settings_reference_classes,
                              self.settings_reference_min_count)
        if len(np.unique(y)) < 2:  # e.g. a 2-way NSFW head that says "sfw" to everything
            keep, y = top_classes(self.consensus_labels(), self.settings_reference_classes,
                                  self.settings_reference_min_count)
            self.reference_info.setdefault("fallbacks", {})[f"{name}/{encoder}"] = (
                "own head predicts < 2 frequent classes; consensus labels used")
        return Zr[keep], y

    settings_reference_classes = 10
    settings_reference_min_count = 10

    def consensus_labels(self):
        """Argmax of the mean ImageNet posterior of the zoo's ImageNet members."""
        if "labels" not in self._consensus:
            members = [e for e in self.encoders if e in self.zoo.imagenet_members]
            mean = sum(np.concatenate([self.proba[e][p][self.pools[p].part("ref")]
                                       for p in sorted(self.pools)]) for e in members)
            self._consensus["labels"] = (mean / len(members)).argmax(1)
            self._consensus["members"] = members
        return self._consensus["labels"]

    # ------------------------------------------------------------------ cases
    def case(self, encoder, target, seed):
        t = self.targets[target]
        P = self.proba.get(encoder)
        return Case(Z=self.Z[encoder][t.pool][t.train].astype(np.float64), y=t.y_train,
                    references=self.references(encoder, target),
                    default_reference=self.default_reference,
                    source_proba=None if P is None else P[t.pool][t.train], seed=seed)


def top_classes(labels, k, min_count):
    """Samples of the ``k`` most frequent labels having at least ``min_count`` each,
    relabelled ``0..k'-1`` by decreasing frequency."""
    values, counts = np.unique(labels, return_counts=True)
    order = np.argsort(-counts, kind="stable")
    chosen = [values[i] for i in order[:k] if counts[i] >= min_count]
    keep = np.flatnonzero(np.isin(labels, chosen))
    code = {v: i for i, v in enumerate(chosen)}
    return keep, np.array([code[v] for v in labels[keep]], dtype=np.int64)


# ----------------------------------------------------------------------------- workers
def _limit_threads(threads):
    """One worker, ``threads`` BLAS/torch threads (set in every task: loky reuses workers)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(threads)
    threadpool_limits(threads)


#: CPU seconds spent in worker processes (their own accounting; loky workers are
#: not children that resource.getrusage sees)
WORKER_CPU = {"seconds": 0.0}


def run_parallel(fn, tasks, n_jobs, threads=1):
    """``fn(*task)`` for every task, in ``n_jobs`` worker processes, results in order.

    Tasks may be a generator (consumed lazily, so that big inputs such as model
    copies are built only when a worker is free). Results are yielded as they
    come, so that callers can store them in the cache at once.
    """
    if n_jobs == 1:
        for task in tasks:
            yield fn(*task)
        return
    from joblib import Parallel, delayed

    for result, cpu in Parallel(n_jobs=n_jobs, backend="loky", return_as="generator",
                                pre_dispatch="n_jobs")(
            delayed(_call_limited)(fn, threads, task) for task in tasks):
        WORKER_CPU["seconds"] += cpu
        yield result


def _call_limited(fn, threads, task):
    _limit_threads(threads)
    t0 = time.process_time()
    result = fn(*task)
    return result, time.process_time() - t0


# ----------------------------------------------------------------------------- prepare
def build_zoo(name, s, cache_dir):
    """Pools, targets and the zoo object of one zoo."""
    from benchmarks.zoo import zoos

    if name == "vision":
        pools = tasks.vision_pools(s)
        return pools, tasks.vision_targets(pools, s), zoos.VisionZoo(s.vision_encoders)
    if name == "text":
        pools = tasks.text_pools(s)
        return pools, tasks.text_targets(pools, s), zoos.TextZoo(s.text_encoders,
                                                                 s.text_max_length)
    if name == "small":
        pools = tasks.small_pools(s)
        t0 = time.perf_counter()
        zoo = zoos.SmallZoo(s.small_encoders, pools["fmnist"], s,
                            cache_dir=None if cache_dir is None else f"{cache_dir}/small_zoo",
                            parallel=lambda fn, ts: run_parallel(fn, ts, s.n_jobs, s.threads))
        log(f"small zoo pretrained/loaded in {time.perf_counter() - t0:.0f} s")
        return pools, tasks.small_targets(pools, s), zoo
    raise ValueError(f"unknown zoo {name!r}")


def _embed_pools(encoder, parts, emb_cache):
    """Embeddings of each pool's rows by one encoder (a worker task)."""
    t0 = time.perf_counter()
    enc = encoder() if callable(encoder) and not hasattr(encoder, "parameters") else encoder
    out = {p: emb_cache.extract(enc, X, batch_size=128, device="cpu")
           for p, X in parts.items()}
    return out, time.perf_counter() - t0, emb_cache.hits, emb_cache.misses


def prepare_zoo(name, s, *, emb_cache, store, cache_dir, finetune=True):
    """Embed, build references and compute the ground truth of one zoo."""
    t0 = time.perf_counter()
    pools, targets, zoo = build_zoo(name, s, cache_dir)
    log(f"{name}: data ready in {time.perf_counter() - t0:.0f} s "
        f"({', '.join(f'{k} {len(v.y)}' for k, v in pools.items())})")
    zd = ZooData(name, s, pools, targets, zoo)
    if name == "vision":
        zd.reference_options = tuple(s.vision_references)
        zd.default_reference = s.vision_default_reference
        if zd.default_reference not in zd.reference_options:
            zd.reference_options = (zd.default_reference,) + zd.reference_options
        zd.settings_reference_min_count = max(3, min(10, s.vision_n_reference // 30))
    else:
        zd.default_reference = SMALL_REFERENCE if name == "small" else TEXT_REFERENCE
        zd.reference_options = (zd.default_reference,)
    # embeddings: every pool once per encoder (only the rows that some part uses)
    rows = {p: np.unique(np.concatenate([v for k, v in pool.parts.items() if k != "pretrain"]))
            for p, pool in pools.items()}
    parts = {p: _take(pool.X, rows[p]) for p, pool in pools.items()}
    jobs = ((zoo.factory(enc), parts, emb_cache) for enc in zoo.names)
    for enc, (Zs, secs, hits, misses) in zip(zoo.names, run_parallel(
            _embed_pools, jobs, s.n_jobs, s.threads)):
        emb_cache.hits += hits if s.n_jobs > 1 else 0
        emb_cache.misses += misses if s.n_jobs > 1 else 0
        zd.Z[enc] = {}
        head = zoo.source_head(enc)
        for pname, pool in pools.items():
            Z = np.zeros((len(pool.y), Zs[pname].shape[1]), np.float32)
            Z[rows[pname]] = Zs[pname]
            zd.Z[enc][pname] = Z
            if head is not None:
                coef, intercept = head
                zd.proba.setdefault(enc, {})[pname] = _softmax(
                    Z.astype(np.float64) @ np.asarray(coef, np.float64).T
                    + np.asarray(intercept, np.float64))
        zd.embed_seconds[enc] = secs
        log(f"{name}: {enc} embedded in {secs:.1f} s (dim {Z.shape[1]})")
    describe_references(zd)
    compute_ground_truth(zd, store, finetune=finetune)
    return zd


def _take(X, idx):
    return X[idx] if hasattr(X, "shape") else [X[i] for i in idx]


def describe_references(zd):
    """Size and classes of each reference (for the report)."""
    info = zd.reference_info
    for ref in zd.reference_options:
        per = {}
        for tname in zd.targets:
            for enc in zd.encoders:
                Zr, yr = zd._reference(ref, enc, tname)
                per[f"{tname}/{enc}"] = {"n": int(len(yr)), "n_classes": int(len(np.unique(yr)))}
        info[ref] = {"description": REFERENCE_DESCRIPTIONS[ref], "sizes": per}
    if "imagenet_consensus" in zd.reference_options:
        info["imagenet_consensus"]["members"] = zd._consensus.get("members")


REFERENCE_DESCRIPTIONS = {
    "other_dataset": "a real labelled dataset other than the target's: digits (reference "
                     "part) for Fashion-MNIST targets, Fashion-MNIST for the others",
    "imagenet_consensus": "reference parts of all three image pools, labelled by the argmax "
                          "of the mean ImageNet-1k posterior of the zoo's ImageNet encoders; "
                          "the 10 most frequent predicted classes (an ImageNet class subset, "
                          "the same labels for every encoder)",
    "imagenet_own_head": "the same images, labelled by each encoder's own source head (its "
                         "10 most frequent predictions); open_nsfw falls back to the "
                         "consensus labels when its 2-way head predicts one class",
    SMALL_REFERENCE: "clean Fashion-MNIST (the small encoders' pretraining task), samples "
                     "disjoint from pretraining and targets",
    TEXT_REFERENCE: "WordNet verb glosses, 10 most frequent verb supersenses",
}


# ----------------------------------------------------------------------------- ground truth
def _encoder_identity(zd, enc):
    if zd.name == "small":
        from sklearn_taskrel.encoders import encoder_fingerprint

        return encoder_fingerprint(zd.zoo.encoder(enc))
    return enc


def _finetune_key(zd, enc, t, ft, seed):
    s = zd.settings
    return {"zoo": zd.name, "encoder": _encoder_identity(zd, enc),
            "data": joblib.hash((t.pool, t.train, t.test, t.y_train, t.y_test)),
            "image_size": s.vision_image_size if zd.name == "vision" else None,
            "max_length": s.text_max_length if zd.name == "text" else None,
            "finetune": {k: v for k, v in vars(ft).items() if k != "seeds"},
            "seed": seed, "version": 1}


def compute_ground_truth(zd, store, finetune=True):
    """Linear probe of every (encoder, target); fine-tuning of every fine-tunable one."""
    s = zd.settings
    ft = {"vision": s.vision_finetune, "text": s.text_finetune, "small": s.small_finetune}[zd.name]
    # fine-tuning runs not in the cache, run in parallel
    todo = []
    for tname, t in zd.targets.items():
        if t.finetune_from in zd.targets:
            continue  # label permutation: the parent's runs are reused
        for enc in zd.encoders:
            if zd.zoo.why_not_finetuned(enc) is None and finetune:
                for seed in ft.seeds:
                    key = _finetune_key(zd, enc, t, ft, seed)
                    if store.get("finetune", key) is None:
                        todo.append((tname, enc, seed, key))
    if todo:
        t0 = time.perf_counter()
        log(f"{zd.name}: {len(todo)} fine-tuning runs to do")
        jobs = (_finetune_task(zd, enc, zd.targets[tname], ft, seed)
                for tname, enc, seed, _ in todo)
        for (tname, enc, seed, key), res in zip(todo, run_parallel(
                gt.finetune_once, jobs, s.n_jobs, s.threads)):
            store.put("finetune", key, res)
            log(f"{zd.name}: fine-tuned {enc} on {tname} (seed {seed}): "
                f"{res['accuracy']:.3f} in {res['seconds']:.0f} s")
        log(f"{zd.name}: fine-tuning done in {time.perf_counter() - t0:.0f} s")
    order = sorted(zd.targets, key=lambda t: zd.targets[t].finetune_from is not None)
    for tname in order:
        t = zd.targets[tname]
        zd.ground_truth[tname] = {}
        data_key = joblib.hash((t.pool, t.train, t.test, t.y_train, t.y_test))
        for enc in zd.encoders:
            Z = zd.Z[enc][t.pool]
            lp = store.get_or_compute("probe", {
                "zoo": zd.name, "encoder": _encoder_identity(zd, enc),
                "Z": joblib.hash((Z[t.train], Z[t.test])), "data": data_key, "C": s.probe_C},
                lambda Z=Z, t=t: {"accuracy": gt.linear_probe_accuracy(
                    Z[t.train], t.y_train, Z[t.test], t.y_test, C=s.probe_C)})
            row = {"linear_probe": lp["accuracy"], "finetune": None}
            why = zd.zoo.why_not_finetuned(enc)
            if why:
                row["not_finetuned"] = why
            elif t.finetune_from in zd.ground_truth and \
                    zd.ground_truth[t.finetune_from][enc]["finetune"]:
                row["finetune"] = dict(zd.ground_truth[t.finetune_from][enc]["finetune"],
                                       reused_from=t.finetune_from)
            elif finetune:
                runs = [store.get("finetune", _finetune_key(zd, enc, t, ft, seed))
                        for seed in ft.seeds]
                row["finetune"] = gt.summarise_seeds(runs)
            zd.ground_truth[tname][enc] = row
        log(f"{zd.name}: ground truth of {tname}: " + ", ".join(
            f"{e} LP {r['linear_probe']:.3f}"
            + (f" FT {r['finetune']['mean']:.3f}±{r['finetune']['std']:.3f}"
               if r["finetune"] else "") for e, r in zd.ground_truth[tname].items()))


def _finetune_task(zd, enc, t, ft, seed):
    """Arguments of :func:`ground_truth.finetune_once` for one run (built lazily)."""
    pool = zd.pools[t.pool]
    module = zd.zoo.finetune_module(enc, t.n_classes)
    X = zd.zoo.finetune_inputs(enc, _take(pool.X, np.concatenate([t.train, t.test])))
    n = len(t.train)
    tr, te = np.arange(n), np.arange(n, n + len(t.test))
    sub = (lambda idx: {k: v[idx] for k, v in X.items()}) if isinstance(X, dict) else (
        lambda idx: X[idx])
    return module, sub(tr), t.y_train, sub(te), t.y_test, ft, seed


# ----------------------------------------------------------------------------- scores
def _score_task(case, methods):
    """Every method on one case (a worker task); failures are recorded, not raised."""
    out = {}
    for m in methods:
        try:
            out[m.name] = m(case)
        except Exception as exc:  # one failure must not stop the benchmark
            out[m.name] = {"error": f"{type(exc).__name__}: {exc}"}
    return out


def score_methods(zd, methods, store, *, namespace="scores"):
    """``scores[method][target][encoder] = {"score", "seconds", "terms"?}``."""
    s = zd.settings
    scores = {m.name: {} for m in methods}
    code = {"TR": code_fingerprint(*TR_CODE), "metrics": code_fingerprint(*METRICS_CODE)}
    todo = []
    t0 = time.perf_counter()
    for tname in zd.targets:
        for enc in zd.encoders:
            case = zd.case(enc, tname, s.seed)
            base_key = {"zoo": zd.name, "encoder": _encoder_identity(zd, enc),
                        "Z": joblib.hash(case.Z), "y": joblib.hash(case.y),
                        "source": None if case.source_proba is None
                        else joblib.hash(case.source_proba), "seed": s.seed}
            missing = []
            for m in methods:
                if not m.applicable(case):
                    continue
                key = dict(base_key, method=m.name, params=m.params, version=1,
                           code=code["TR" if m.family.startswith("TR") else "metrics"])
                if m.needs_reference:
                    key["reference"] = joblib.hash(case.references)
                hit = store.get(namespace, key)
                if hit is None:
                    missing.append((m, key))
                else:
                    scores[m.name].setdefault(tname, {})[enc] = hit
            if missing:
                todo.append((tname, enc, case, missing))
    log(f"{zd.name}: {sum(len(x[3]) for x in todo)} scores to compute")
    jobs = ((case, [m for m, _ in missing]) for _, _, case, missing in todo)
    for (tname, enc, _, missing), res in zip(todo, run_parallel(
            _score_task, jobs, s.n_jobs, s.threads)):
        for m, key in missing:
            out = res[m.name]
            if "error" in out:
                log(f"{zd.name}: {m.name} failed on {enc}/{tname}: {out['error']}")
            else:
                store.put(namespace, key, out)
            scores[m.name].setdefault(tname, {})[enc] = out
    log(f"{zd.name}: scores done in {time.perf_counter() - t0:.0f} s")
    return scores
