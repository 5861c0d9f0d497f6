"""Numpydoc fragments shared by several public docstrings."""

RANDOM_STATE = """random_state : int, RandomState instance or None, default=None
        Seeds the subsampling, the random labels of the head's gradient penalty and
        any random initialisation. Pass an int for results that are identical, bit
        for bit, across calls on the CPU."""

DEVICE = """device : {"auto", "cpu", "cuda"} or torch.device, default="auto"
        Where the encoder and the optimisation run. ``"auto"`` picks CUDA when
        ``torch.cuda.is_available()`` and the CPU otherwise. Results always come
        back as CPU numpy arrays."""

VERBOSE = """verbose : int, default=0
        0 prints nothing; 1 shows progress bars (tqdm) for embedding extraction and
        the optimisation; 2 also prints one line per outer iteration."""
