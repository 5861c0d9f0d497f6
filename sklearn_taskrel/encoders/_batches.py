"""The batch loop that runs a built encoder on data (the core of extraction)."""

import contextlib
import time

import numpy as np

from sklearn_taskrel.encoders._context import extraction_context
from sklearn_taskrel.exceptions import EncoderError
from sklearn_taskrel.utils._device import resolve_device


def _n_samples(X):
    if hasattr(X, "shape") and X.shape is not None and len(X.shape) > 0:
        return int(X.shape[0])
    return len(X)


def _as_batchable(X):
    """Pandas objects become numpy; everything else is sliced as it is. A list of
    arrays (images, say) must have one shape: the first item whose shape differs
    from the first one's is named."""
    if hasattr(X, "iloc") and hasattr(X, "to_numpy"):
        return X.to_numpy()
    if isinstance(X, (list, tuple)) and len(X) > 1 and hasattr(X[0], "shape"):
        first = tuple(X[0].shape)
        for i, item in enumerate(X):
            shape = tuple(getattr(item, "shape", ()))
            if shape != first:
                raise ValueError(
                    f"X is a list of arrays of different shapes: item 0 has shape {first} "
                    f"and item {i} has shape {shape}. Resize them to one shape first (or "
                    "pass an encoder that resizes each item itself).")
    return X


def _progress(total, verbose, desc, unit="sample"):
    if not verbose:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover
        return None
    return tqdm(total=total, desc=desc, unit=unit, leave=False)


def _to_numpy_2d(out, start, stop):
    if isinstance(out, (tuple, list)) and len(out) and not np.isscalar(out[0]):
        # modules that return (features, logits) or similar: the first output
        if hasattr(out[0], "shape") and len(getattr(out[0], "shape", ())) >= 1:
            out = out[0]
    if isinstance(out, dict):
        raise EncoderError(
            "encoder returned a dict; wrap it so that it returns the embedding array "
            f"(keys: {sorted(out)[:5]})."
        )
    if hasattr(out, "detach"):
        out = out.detach()
        out = (out.float() if out.is_floating_point() else out).cpu().numpy()
    out = np.asarray(out)
    if out.dtype.kind not in "fiub":
        raise EncoderError(f"encoder returned non-numeric output of dtype {out.dtype}.")
    n = stop - start
    if out.ndim == 1 and n == 1:
        out = out[None, :]
    if out.ndim != 2 or out.shape[0] != n:
        raise EncoderError(
            f"encoder returned an array of shape {out.shape} for a batch of {n} "
            "samples; expected (batch_size, n_features). Pool or flatten the output "
            "in the encoder."
        )
    out = out.astype(np.float32, copy=False)
    if not np.all(np.isfinite(out)):
        bad = int((~np.isfinite(out)).any(axis=1).sum())
        raise EncoderError(
            f"encoder returned NaN or infinite values for {bad} of the {n} samples "
            f"in rows {start}..{stop - 1}."
        )
    return out


def embed_batches(enc, X, *, batch_size=256, device="auto", mixed_precision=False,
                  pin_memory=False, prefetch=False, compile=False, verbose=0,
                  desc="embedding", timings=None):
    """:func:`~sklearn_taskrel.encoders.extract_embeddings` for an encoder already
    built (``build_encoder``'s output); the same parameters and result."""
    t0 = time.perf_counter()
    X = _as_batchable(X)
    n = _n_samples(X)
    if n == 0:
        raise ValueError("X is empty: at least one sample is required to embed.")
    import torch

    is_module = isinstance(enc, torch.nn.Module)
    takes_tensors = is_module or getattr(enc, "takes_tensors", False)
    dev = resolve_device(device)
    was_training = None
    if is_module:
        was_training = enc.training
        enc.to(dev)
        enc.eval()
    if mixed_precision and is_module:
        amp_dtype = torch.float16 if dev.type == "cuda" else torch.bfloat16
        amp = torch.autocast(device_type=dev.type, dtype=amp_dtype)
    else:
        amp = contextlib.nullcontext()
    forward = torch.compile(enc) if compile and is_module else enc

    def prepare(start):
        stop = min(start + batch_size, n)
        batch = X[start:stop]
        if takes_tensors:
            if not torch.is_tensor(batch):
                batch = torch.from_numpy(np.ascontiguousarray(batch))
            if batch.dtype == torch.float64:
                batch = batch.float()
            if dev.type == "cuda":
                if pin_memory:
                    batch = batch.pin_memory()
                batch = batch.to(dev, non_blocking=pin_memory)
        return start, stop, batch

    starts = list(range(0, n, batch_size))
    pool = None
    if prefetch and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(max_workers=1)
        pending = pool.submit(prepare, starts[0])
    bar = _progress(n, verbose, desc)
    Z = None
    try:
        # Adapters that take strings or arrays (text, ONNX) cannot see the device:
        # the context hands them the estimator's device and precision.
        with torch.no_grad(), amp, extraction_context(device=dev,
                                                      mixed_precision=mixed_precision):
            for k, first in enumerate(starts):
                if pool is not None:
                    start, stop, batch = pending.result()
                    if k + 1 < len(starts):
                        pending = pool.submit(prepare, starts[k + 1])
                else:
                    start, stop, batch = prepare(first)
                try:
                    out = forward(batch)
                except (EncoderError, MemoryError):
                    raise
                except Exception as exc:  # the user's encoder failed
                    if "out of memory" in str(exc).lower():  # torch OOM: a resource limit
                        raise MemoryError(
                            f"encoder {type(enc).__name__} ran out of memory on rows "
                            f"{start}..{stop - 1} (batch_size={batch_size}): {exc}") from exc
                    raise EncoderError(
                        f"encoder {type(enc).__name__} raised {type(exc).__name__} on "
                        f"rows {start}..{stop - 1}: {exc}"
                    ) from exc
                block = _to_numpy_2d(out, start, stop)
                if Z is None:  # one output array, filled in place (no final copy)
                    Z = np.empty((n, block.shape[1]), dtype=np.float32)
                elif block.shape[1] != Z.shape[1]:
                    raise EncoderError(
                        f"encoder returned {block.shape[1]} features on rows {start}.."
                        f"{stop - 1} but {Z.shape[1]} before; the width must not change.")
                Z[start:stop] = block
                if bar is not None:
                    bar.update(stop - start)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
        if bar is not None:
            bar.close()
        if is_module and was_training:
            enc.train(True)
    if timings is not None:
        timings.update(seconds=time.perf_counter() - t0, n_samples=n)
    return Z
