"""Batched embedding extraction: the one place that runs encoders on data."""

from sklearn_taskrel.encoders._batches import embed_batches
from sklearn_taskrel.encoders._specs import build_encoder


def extract_embeddings(encoder, X, *, batch_size=256, device="auto",
                       mixed_precision=False, pin_memory=False, prefetch=False,
                       compile=False, verbose=0, desc="embedding", timings=None):
    """Run ``encoder`` on ``X`` in batches and return float32 CPU embeddings.

    Parameters
    ----------
    encoder : None, nn.Module, skorch NeuralNet, callable or factory
        See :mod:`sklearn_taskrel.encoders`. ``None`` validates and returns ``X``.
    X : array-like, tensor or list
        Raw inputs; sliced along the first axis.
    batch_size : int, default=256
    device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        For ``nn.Module`` encoders: where the forward pass runs. The module is moved
        there and stays there.
    mixed_precision : bool, default=False
        Run ``nn.Module`` forwards under :func:`torch.autocast` (float16 on CUDA,
        bfloat16 on the CPU). Outputs are cast back to float32.
    pin_memory : bool, default=False
        Pin host batches before the copy to CUDA (asynchronous copies).
    prefetch : bool, default=False
        Prepare the next batch (slicing, conversion, pinning, copy to the device) in
        a background thread while the current one runs: overlaps loading and
        compute, most useful on a GPU.
    compile : bool, default=False
        Run ``nn.Module`` encoders through :func:`torch.compile` (a one-off compile
        cost; pays on large datasets).
    verbose : int, default=0
        A tqdm progress bar when > 0.
    timings : dict or None
        If given, receives ``{"seconds": ..., "n_samples": ...}``.

    Returns
    -------
    Z : ndarray of shape (n_samples, n_features), dtype float32

    Raises
    ------
    EncoderError
        If the encoder raises, or returns non-finite values or the wrong shape.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from sklearn_taskrel.encoders import extract_embeddings
    >>> enc = torch.nn.Linear(4, 2)
    >>> extract_embeddings(enc, np.ones((10, 4), np.float32), batch_size=4, device="cpu").shape
    (10, 2)
    """
    return embed_batches(build_encoder(encoder), X, batch_size=batch_size, device=device,
                         mixed_precision=mixed_precision, pin_memory=pin_memory,
                         prefetch=prefetch, compile=compile, verbose=verbose, desc=desc,
                         timings=timings)
