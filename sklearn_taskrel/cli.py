"""Command line: ``sklearn-taskrel demo``, ``rank`` and ``embed``.

``python -m sklearn_taskrel --help`` explains every option.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np

#: Exit codes of ``rank``: every file ranked, some file failed, refused input.
EXIT_OK, EXIT_SOME_FAILED, EXIT_REFUSED = 0, 1, 2


class InputFileError(ValueError):
    """An embeddings file that cannot be ranked; the message says how to fix it."""


def load_encoder_file(path):
    """One encoder's embeddings from an .npz: ``X_ref``, ``y_ref``, ``X`` and optional ``y``.

    Raises :class:`InputFileError` with a message that names the file, says what is
    wrong and how to fix it.
    """
    if not os.path.exists(path):
        raise InputFileError(f"{path!r} does not exist.")
    if os.path.isdir(path):
        raise InputFileError(f"{path!r} is a folder; give one .npz file per encoder.")
    how = ("save one encoder's embeddings with numpy.savez(PATH.npz, X_ref=..., "
           "y_ref=..., X=..., y=...)")
    ext = os.path.splitext(path)[1].lower()
    if ext == ".npy":
        raise InputFileError(
            f"{path!r} is a .npy file (one array); rank needs an .npz archive of the four "
            f"arrays X_ref, y_ref, X and optionally y: {how}.")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != b"PK\x03\x04":  # an .npz is a zip archive of .npy arrays
        kind = ("a .npy array" if magic[:4] == b"\x93NUM" else
                f"not an .npz archive{f' (its extension is {ext!r})' if ext else ''}")
        raise InputFileError(f"{path!r} is {kind}; rank reads one .npz archive per "
                             f"encoder: {how}.")
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputFileError(
            f"cannot read {path!r} as an .npz archive"
            f"{f' (its extension is {ext!r})' if ext not in ('.npz', '') else ''}: "
            f"{exc}. {how[0].upper() + how[1:]}.") from None
    if not hasattr(data, "files"):  # a .npy saved under another name
        raise InputFileError(f"{path!r} holds a single array, not an .npz archive; {how}.")
    keys = set(data.files)
    missing = {"X_ref", "y_ref", "X"} - keys
    if missing:
        raise InputFileError(f"{path!r} lacks the arrays {sorted(missing)} (it has "
                             f"{sorted(keys)}); expected X_ref, y_ref, X and optionally y.")
    arrays = {}
    for key in ("X_ref", "y_ref", "X", "y"):
        if key not in keys:
            continue
        try:
            arrays[key] = data[key]
        except ValueError as exc:  # object arrays with allow_pickle=False
            raise InputFileError(
                f"array {key!r} of {path!r} holds Python objects ({exc}); store labels "
                "as numbers or fixed-width strings, e.g. numpy.asarray(labels, dtype=str).") \
                from None
    for key in ("X_ref", "X"):
        a = arrays[key]
        if a.ndim != 2:
            raise InputFileError(
                f"array {key!r} of {path!r} has shape {a.shape} ({a.ndim}-d); rank needs "
                f"one embedding per row, a 2-d array (n_samples, n_features): pool or "
                f"flatten it first, e.g. {key}.reshape(len({key}), -1).")
        if a.dtype.kind not in "fiub":
            raise InputFileError(f"array {key!r} of {path!r} has dtype {a.dtype}; "
                                 "embeddings must be numbers.")
        bad = ~np.isfinite(a)
        if bad.any():
            row = int(np.argwhere(bad)[0][0])
            kind = "NaN" if np.isnan(a).any() else "infinite"
            raise InputFileError(
                f"array {key!r} of {path!r} has {int(bad.sum())} {kind} values (first in "
                f"row {row}); fix the encoder's output or drop those rows.")
    for key, of in (("y_ref", "X_ref"), ("y", "X")):
        if key not in arrays:
            continue
        a = arrays[key]
        if a.ndim != 1:
            raise InputFileError(f"array {key!r} of {path!r} has shape {a.shape}; labels must "
                                 "be 1-d, one per row of " + of + ".")
        if len(a) != len(arrays[of]):
            raise InputFileError(f"{path!r}: {key} has {len(a)} labels but {of} has "
                                 f"{len(arrays[of])} rows.")
    if arrays["X_ref"].shape[1] != arrays["X"].shape[1]:
        raise InputFileError(
            f"{path!r}: X_ref has {arrays['X_ref'].shape[1]} features and X has "
            f"{arrays['X'].shape[1]}; both must come from the same encoder (same width).")
    return arrays["X_ref"], arrays["y_ref"], arrays["X"], arrays.get("y")


def _labels_digest(y):
    return None if y is None else hashlib.sha1(
        np.ascontiguousarray(np.asarray(y).astype(str)).tobytes()).hexdigest()


def _describe_labels(y):
    return f"{len(y)} samples in {len(np.unique(np.asarray(y)))} classes"


def _check_same_tasks(files, allow_mixed):
    """Refuse (or, with ``allow_mixed``, accept) files whose reference or target sets
    differ; returns the message, or None when they agree."""
    problems = []
    for key, what in (("y_ref", "reference"), ("y", "target")):
        groups = {}
        for f in files:
            groups.setdefault(_labels_digest(f[key]) if f[key] is not None else None,
                              []).append(f)
        if len(groups) > 1:
            parts = "; ".join(
                f"{', '.join(os.path.basename(g['path']) for g in group)}: "
                f"{_describe_labels(group[0][key]) if group[0][key] is not None else 'no labels'}"
                for group in groups.values())
            same = len({_describe_labels(g[0][key]) if g[0][key] is not None else ""
                        for g in groups.values()}) == 1
            problems.append(f"the {what} sets differ ({parts}"
                            f"{': the same sizes, the labels in another order' if same else ''})")
        if key == "y":
            sizes = {len(f["X"]) for f in files}
            if len(sizes) > 1 and len(groups) == 1:
                problems.append(f"the target sets differ in size ({sorted(sizes)})")
    if not problems:
        return None
    msg = ("; ".join(problems) + ". Scores computed against different reference or target "
           "tasks are not comparable: embed one reference set and one target set with every "
           "encoder")
    return msg + ("." if allow_mixed else ", or pass --allow-mixed to rank them anyway.")


def _transport_label(args):
    space = args.transport_space or ("logits" if args.preset == "ranking" else "features")
    return "W1_logits" if space == "logits" else "W1"


def _columns(table, args):
    """(column, header, format) of the printed table: only columns with a value."""
    single = len(table.attrs.get("scorers", ["tr"])) == 1
    cols = [("rank", "rank", "{:.0f}"), ("encoder", "encoder", "{}")]
    if single:
        name = table.attrs["scorers"][0]
        if name.startswith("tr"):
            cols += [("task_relatedness", "TR", "{:.4f}"), ("chance_level", "chance", "{:.4f}"),
                     ("beats_chance", "beats_chance", "{}"),
                     ("reweighted_reference_loss", "ref_loss", "{:.4f}"),
                     ("conditional_entropy", "H(T|R)", "{:.4f}"),
                     ("lipschitz", "tau", "{:.4f}"),
                     ("wasserstein", _transport_label(args), "{:.4f}"),
                     ("transport", "tau*W1", "{:.4f}"), ("target_loss", "tgt_CE", "{:.4f}")]
        else:
            cols += [("score", name, "{:.4f}")]
        cols += [("score_low", "low", "{:.4f}"), ("score_high", "high", "{:.4f}"),
                 ("p_best", "p_best", "{:.2f}"), ("tied_with_best", "tied", "{}")]
    else:
        names = table.attrs["scorers"]
        cols += [("consensus_rank", "consensus", "{:.0f}")]
        for n in names:
            cols += [(f"score_{n}", n, "{:.4f}"), (f"rank_{n}", f"rank_{n}", "{:.0f}"),
                     (f"p_best_{n}", f"p_best_{n}", "{:.2f}")]
        cols += [("chance_level", "chance", "{:.4f}")]
    cols += [("seconds", "seconds", "{:.2f}"), ("error", "error", "{}")]
    return [c for c in cols if c[0] in table and table[c[0]].notna().any()]


def format_ranking(table, args):
    """Aligned plain-text table: numbers right-aligned, names and errors left-aligned."""
    cols = _columns(table, args)
    cells = []
    for _, row in table.iterrows():
        line = []
        for col, _, fmt in cols:
            v = row[col]
            missing = v is None or (isinstance(v, float) and np.isnan(v))
            line.append("" if missing else fmt.format(v))
        cells.append(line)
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, (_, h, _) in enumerate(cols)]
    left = {"encoder", "error"}

    def fmt_line(values):
        return "  ".join((v.ljust(w) if c[0] in left else v.rjust(w))
                         for v, w, c in zip(values, widths, cols)).rstrip()

    return "\n".join([fmt_line([h for _, h, _ in cols])] + [fmt_line(r) for r in cells])


def _scorers(args):
    from sklearn_taskrel import TaskRelatednessScorer

    names = args.scorer or ["tr"]
    out = []
    for name in names:
        if name == "tr":
            out.append(TaskRelatednessScorer(
                transforms=args.transforms, pseudo_labels=args.pseudo_labels,
                preset=args.preset, transport_space=args.transport_space,
                random_state=args.random_state, verbose=args.verbose))
        else:
            out.append(name)
    return out


def _say(args, text):
    if not args.quiet:
        print(text, file=sys.stderr, flush=True)


def _rank(args):
    from sklearn_taskrel.model_selection import (
        _check_bootstrap,
        _ranking_table,
        _resolve_scorers,
        _score_precomputed,
    )

    try:
        scorers = _resolve_scorers(_scorers(args), args.random_state)
        boot = _check_bootstrap(args.bootstrap, args.confidence, args.random_state)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    names = [n for n, _ in scorers]
    if args.report and os.path.splitext(args.report)[1].lower() not in (".html", ".htm", ".md"):
        print(f"error: --report {args.report!r} must end in .html, .htm or .md.",
              file=sys.stderr)
        return EXIT_REFUSED
    if bool(args.files) == bool(args.encoder):
        print("error: give either .npz FILEs or --encoder SPEC (with --target and "
              "--reference), not both and not neither.", file=sys.stderr)
        return EXIT_REFUSED
    if args.encoder:
        table = _rank_specs(args, scorers, boot)
        if table is None:
            return EXIT_REFUSED
        return _write_ranking(table, args)
    # Read every file; a file that cannot be read becomes a row with its error.
    files, failed, seen = [], [], {}
    for path in args.files:
        name = os.path.splitext(os.path.basename(path))[0]
        try:
            X_ref, y_ref, X, y = load_encoder_file(path)
        except InputFileError as exc:
            failed.append({"encoder": name, "error": f"InputFileError: {exc}"})
            _say(args, f"error: {exc}")
            continue
        with open(path, "rb") as fh:
            digest = hashlib.sha1(fh.read()).hexdigest()
        if digest in seen:
            _say(args, f"warning: {path} has the same content as {seen[digest]}; ranked once.")
            continue
        seen[digest] = path
        if name in {f["name"] for f in files}:
            name = path  # two files with one base name: keep them apart
        files.append({"path": path, "name": name, "X_ref": X_ref, "y_ref": y_ref, "X": X,
                      "y": None if args.label_free else y})
    if len(files) > 1:
        problem = _check_same_tasks(files, args.allow_mixed)
        if problem and not args.allow_mixed:
            print(f"error: {problem}", file=sys.stderr)
            return EXIT_REFUSED
        if problem:
            _say(args, f"warning: {problem}")
    rows = list(failed)
    from sklearn_taskrel import ReferenceTask

    for i, f in enumerate(files, 1):
        _say(args, f"[{i}/{len(files)}] scoring {f['name']} ({f['X'].shape[1]} features)")
        rows.append(_score_precomputed(f["name"], f["X"], f["y"],
                                       ReferenceTask(f["X_ref"], f["y_ref"]), scorers, boot))
    return _write_ranking(_ranking_table(rows, names, boot, args.confidence), args)


def _rank_specs(args, scorers, boot):
    """Embed (cached) the target and reference with every encoder spec and rank them;
    None when the input is refused."""
    from sklearn_taskrel.model_selection import rank_encoders

    if not (args.target and args.reference):
        print("error: --encoder needs --target and --reference (a folder of images, a .csv "
              "of texts or a built-in task name).", file=sys.stderr)
        return None
    try:
        X, y, X_ref, y_ref = _load_tasks(args.target, "--target", args)
    except (InputFileError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    specs = list(dict.fromkeys(args.encoder))
    _say(args, f"ranking {len(specs)} encoders on {len(X)} target samples")
    table = rank_encoders({s: s for s in specs}, X, None if args.label_free else y,
                          reference=(X_ref, y_ref), scorer=[e for _, e in scorers],
                          cache=args.cache, batch_size=args.batch_size, device=args.device,
                          n_bootstrap=args.bootstrap, confidence=args.confidence,
                          random_state=args.random_state)
    return table


def _write_ranking(table, args):
    table = table.drop(columns=[c for c in ("traceback",) if c in table])
    print(format_ranking(table, args))
    if not args.quiet:
        print(table.attrs["summary"], file=sys.stderr)
    records = json.loads(table.to_json(orient="records"))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(records, fh, indent=2)
    if args.csv:
        table.assign(rank=table["rank"].astype("Int64")).to_csv(args.csv, index=False)
    if args.report:
        from sklearn_taskrel.report import write_report

        write_report(table, args.report)
        _say(args, f"report written to {args.report}")
    return EXIT_SOME_FAILED if table["error"].notna().any() else EXIT_OK


def _load_data(spec, args, what):
    """Inputs and labels from a folder of images, a CSV of texts or a task name."""
    from sklearn_taskrel.datasets import load_image_folder, load_task, load_text_csv
    from sklearn_taskrel.datasets._files import TASKS

    path = os.path.expanduser(spec)
    if os.path.isdir(path):
        bunch = load_image_folder(path, size=args.image_size, n=args.n, lazy=True,
                                  return_X_y=False)
        names = bunch.target_names
        return bunch.data, None if bunch.target is None else names[bunch.target]
    if path.lower().endswith(".csv"):
        if not args.text_column:
            raise InputFileError(f"{what} {spec!r} is a CSV file: name its text column with "
                                 "--text-column (and its labels with --label-column).")
        bunch = load_text_csv(path, text=args.text_column, label=args.label_column,
                              n=args.n, return_X_y=False)
        names = bunch.target_names
        return bunch.data, None if bunch.target is None else names[bunch.target]
    if spec in TASKS:
        return load_task(spec, n=args.n or 1000, size=args.image_size)
    raise InputFileError(
        f"{what} {spec!r} is not a folder of images, a .csv file of texts or a built-in "
        f"task ({', '.join(sorted(TASKS))}).")


def _load_tasks(target, option, args):
    """``X, y, X_ref, y_ref`` of the target (given by ``option``) and of the labelled
    ``--reference``; raises InputFileError with the reason."""
    X, y = _load_data(target, args, option)
    X_ref, y_ref = _load_data(args.reference, args, "--reference")
    if y_ref is None:
        raise InputFileError(f"the reference {args.reference!r} has no labels; use one "
                             "subfolder per class, a --label-column, or a built-in task.")
    return X, y, X_ref, y_ref


def _embed_command(args):
    from sklearn_taskrel.encoders import (
        EmbeddingCache,
        extract_embeddings,
        load_encoder,
    )

    try:
        encoder = load_encoder(args.encoder)
        X, y, X_ref, y_ref = _load_tasks(args.data, "--data", args)
    except (InputFileError, ValueError, FileNotFoundError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    cache = EmbeddingCache(args.cache) if args.cache else None
    kw = dict(batch_size=args.batch_size, device=args.device, verbose=0 if args.quiet else 1)
    embed = cache.extract if cache is not None else extract_embeddings
    _say(args, f"embedding the reference ({len(X_ref)} samples) with {args.encoder}")
    Z_ref = embed(encoder, X_ref, **kw)
    _say(args, f"embedding the target ({len(X)} samples) with {args.encoder}")
    Z = embed(encoder, X, **kw)
    arrays = {"X_ref": Z_ref, "y_ref": np.asarray(y_ref), "X": Z,
              "encoder": np.array(args.encoder)}
    if y is not None:
        arrays["y"] = np.asarray(y)
    np.savez(args.out, **arrays)
    _say(args, f"wrote {args.out}: X_ref {Z_ref.shape}, X {Z.shape}"
               f"{'' if y is None else ', with target labels'}")
    return EXIT_OK


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
    from sklearn_taskrel._version import __version__
    from sklearn_taskrel.model_selection import SCORER_NAMES

    p = argparse.ArgumentParser(
        prog="sklearn-taskrel",
        description="Rank pre-trained encoders for a target task by task-relatedness "
                    "(Mehra, Zhang & Hamm, NeurIPS 2024). Lower TR = better expected transfer.")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                   help="print the version and exit")
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
    r = sub.add_parser(
        "rank", help="rank precomputed embeddings (one .npz per encoder)",
        description="Each FILE holds one encoder's embeddings: X_ref (n_ref, d) and y_ref "
                    "(n_ref,) for the reference task, X (n, d) for the target and, "
                    "optionally, its labels y. Every file must hold the same reference and "
                    "target sets (embedded by its encoder). Encoders are ranked best first. "
                    "Exit status: 0 every file ranked, 1 some file failed (its row says "
                    "why), 2 input refused.")
    r.add_argument("files", nargs="*", metavar="FILE", help=".npz with X_ref, y_ref, X[, y]")
    r.add_argument("--encoder", action="append", default=None, metavar="SPEC",
                   help="instead of FILEs: an encoder spec to embed --target and "
                        "--reference with (repeatable; see `embed`)")
    r.add_argument("--target", metavar="PATH|NAME",
                   help="with --encoder: the target task (image folder, .csv, task name)")
    r.add_argument("--reference", metavar="PATH|NAME",
                   help="with --encoder: the labelled reference task")
    r.add_argument("--text-column", help="with --encoder: CSV column holding the texts")
    r.add_argument("--label-column", help="with --encoder: CSV column holding the labels")
    r.add_argument("--image-size", type=int, default=224,
                   help="with --encoder: image side in pixels (default 224)")
    r.add_argument("--n", type=int, default=None,
                   help="with --encoder: stratified subsample of each task")
    r.add_argument("--cache", metavar="DIR", help="with --encoder: embedding cache folder")
    r.add_argument("--batch-size", type=int, default=64, help="with --encoder: default 64")
    r.add_argument("--device", default="auto", help="with --encoder: auto, cpu or cuda")
    r.add_argument("--scorer", action="append", default=None, metavar="NAME",
                   choices=sorted(SCORER_NAMES),
                   help="score to rank by, repeatable for several scores and a consensus "
                        f"(default tr; one of {', '.join(sorted(SCORER_NAMES))})")
    r.add_argument("--bootstrap", type=int, default=0, metavar="N",
                   help="resamples of the target for intervals and p_best (default 0: off; "
                        "200 is a good choice)")
    r.add_argument("--confidence", type=float, default=0.9,
                   help="coverage of the bootstrap intervals (default 0.9)")
    r.add_argument("--allow-mixed", action="store_true",
                   help="rank files whose reference or target sets differ (not comparable; "
                        "refused by default)")
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
    r.add_argument("--report", metavar="PATH",
                   help="write a self-contained report: HTML (plots embedded) for .html, "
                        "Markdown for .md")
    r.add_argument("--quiet", action="store_true",
                   help="print the table only (no progress, warnings or summary on stderr)")
    r.add_argument("--verbose", type=int, default=0, help="1 shows progress bars (default 0)")
    r.set_defaults(func=_rank)
    e = sub.add_parser(
        "embed", help="embed a target and a reference with one encoder into an .npz for rank",
        description="Embed the target (--data) and the reference (--reference) with the "
                    "encoder named by SPEC and write X_ref, y_ref, X (and y) to --out, the "
                    "input of `rank`. Data: a folder of images (one subfolder per class, or "
                    "unlabelled), a .csv of texts (--text-column, --label-column), or a "
                    "built-in task name (digits, textile, fashion_mnist, tweets, "
                    "wordnet_nouns, wordnet_verbs).")
    e.add_argument("--encoder", required=True, metavar="SPEC",
                   help="encoder spec: zoo:NAME (or a zoo name), hf:PATH_OR_NAME, "
                        "st:PATH_OR_NAME, onnx:PATH or module:package.module:factory")
    e.add_argument("--data", required=True, metavar="PATH", help="the target task")
    e.add_argument("--reference", required=True, metavar="PATH|NAME",
                   help="the reference task (labelled)")
    e.add_argument("--out", required=True, metavar="FILE.npz", help="where to write")
    e.add_argument("--text-column", help="CSV column holding the texts")
    e.add_argument("--label-column", help="CSV column holding the labels")
    e.add_argument("--image-size", type=int, default=224,
                   help="side of the images in pixels (default 224)")
    e.add_argument("--n", type=int, default=None,
                   help="stratified subsample of each task (default: all; 1000 for a "
                        "built-in task)")
    e.add_argument("--cache", metavar="DIR", help="embedding cache folder (reused by later runs)")
    e.add_argument("--batch-size", type=int, default=64, help="default 64")
    e.add_argument("--device", default="auto", help="auto (default), cpu or cuda")
    e.add_argument("--quiet", action="store_true", help="no progress on stderr")
    e.set_defaults(func=_embed_command)
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
