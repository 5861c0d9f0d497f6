"""Command line: ``sklearn-taskrel demo`` and ``sklearn-taskrel rank``.

``python -m sklearn_taskrel --help`` explains every option.
"""

import argparse
import json
import sys

import numpy as np


def load_encoder_file(path):
    """One encoder's embeddings from an .npz: ``X_ref``, ``y_ref``, ``X`` and optional ``y``.

    Raises ``SystemExit`` with a clear message for a missing or malformed file.
    """
    import os

    if not os.path.exists(path):
        raise SystemExit(f"error: embeddings file {path!r} does not exist.")
    try:
        data = np.load(path, allow_pickle=False)
        keys = set(data.files)
    except Exception as exc:  # not an .npz archive
        raise SystemExit(f"error: cannot read {path!r} as an .npz archive: {exc}") from None
    missing = {"X_ref", "y_ref", "X"} - keys
    if missing:
        raise SystemExit(f"error: {path!r} lacks the arrays {sorted(missing)} (it has "
                         f"{sorted(keys)}); expected X_ref, y_ref, X and optionally y.")
    return data["X_ref"], data["y_ref"], data["X"], (data["y"] if "y" in keys else None)


def _rank(args):
    import os

    from sklearn_taskrel import ReferenceTask, TaskRelatednessScorer
    from sklearn_taskrel._demo import format_table

    rows = []
    for path in args.files:
        X_ref, y_ref, X, y = load_encoder_file(path)
        if args.label_free:
            y = None
        est = TaskRelatednessScorer(reference=ReferenceTask(X_ref, y_ref),
                                    transforms=args.transforms,
                                    pseudo_labels=args.pseudo_labels,
                                    preset=args.preset,
                                    transport_space=args.transport_space,
                                    random_state=args.random_state, verbose=args.verbose)
        try:
            est.fit(X, y)
        except (ValueError, TypeError) as exc:
            raise SystemExit(f"error: {path}: {exc}") from None
        name = os.path.splitext(os.path.basename(path))[0]
        rows.append({"encoder": name, "task_relatedness": est.task_relatedness_,
                     **est.bound_terms_, "target_loss": est.target_loss_,
                     "chance_level": est.chance_level_,
                     "beats_chance": bool(est.beats_chance_),
                     "seconds": est.timings_["total"]})
    rows.sort(key=lambda r: r["task_relatedness"])
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    if args.csv:
        import csv

        with open(args.csv, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    return 0


def _demo(args):
    from sklearn_taskrel._demo import run_demo

    rows = run_demo(n_target=args.n_target, image_size=args.image_size,
                    encoders=args.encoders, random_state=args.random_state,
                    verbose=args.verbose)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)
    return 0


def build_parser():
    p = argparse.ArgumentParser(
        prog="sklearn-taskrel",
        description="Rank pre-trained encoders for a target task by task-relatedness "
                    "(Mehra, Zhang & Hamm, NeurIPS 2024). Lower TR = better expected transfer.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="rank five real ImageNet encoders for a real target, offline",
                       description="Rank EfficientNet-Lite0/1/2, MobileNetV2 and open_nsfw for "
                                   "the textile-defect target against the digits reference "
                                   "(all from pip packages, no network).")
    d.add_argument("--n-target", type=int, default=300, help="target images used (default 300)")
    d.add_argument("--image-size", type=int, default=96, help="target image side in pixels (default 96)")
    d.add_argument("--encoders", nargs="+", default=None,
                   help="subset of: effnet_lite0 effnet_lite1 effnet_lite2 mobilenet_v2 open_nsfw")
    d.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    d.add_argument("--json", help="also write the table as JSON to this path")
    d.add_argument("--verbose", type=int, default=1, help="0 hides the progress bar")
    d.set_defaults(func=_demo)
    r = sub.add_parser("rank", help="rank precomputed embeddings (one .npz per encoder)",
                       description="Each FILE holds one encoder's embeddings: X_ref (n_ref, d) "
                                   "and y_ref (n_ref,) for the reference task, X (n, d) for the "
                                   "target and, optionally, its labels y. Encoders are ranked by "
                                   "task-relatedness, best (lowest) first.")
    r.add_argument("files", nargs="+", metavar="FILE", help=".npz with X_ref, y_ref, X[, y]")
    r.add_argument("--label-free", action="store_true", help="ignore target labels")
    r.add_argument("--pseudo-labels", default="reference", choices=["reference", "cluster", "none"],
                   help="label-free mode (default reference)")
    r.add_argument("--transforms", default="learned_all",
                   choices=["learned_all", "learned_feature", "fixed"], help="default learned_all")
    r.add_argument("--preset", default="ranking", choices=["ranking", "paper"],
                   help="ranking (default: width-free terms, built to rank a zoo) or paper "
                        "(the authors' bound, for fidelity)")
    r.add_argument("--transport-space", default=None, choices=["features", "logits"],
                   help="override the preset: the transport term between embeddings (the "
                        "paper's bound) or between the reference head's logits (width-free)")
    r.add_argument("--random-state", type=int, default=0, help="seed (default 0)")
    r.add_argument("--json", help="write the table as JSON")
    r.add_argument("--csv", help="write the table as CSV")
    r.add_argument("--verbose", type=int, default=0, help="1 shows progress bars (default 0)")
    r.set_defaults(func=_rank)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
