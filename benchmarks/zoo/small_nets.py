"""Small CNN/MLP encoders pretrained here on Fashion-MNIST (the small-scale zoo).

As in the paper's MNIST-scale experiments, the zoo is built so that its members
transfer very differently: they differ in capacity (MLP or CNN, narrow or wide),
in training length (one short epoch or several) and in label noise (a share of
the pretraining labels replaced by uniformly random ones), and one is left
untrained. Every member is pretrained with skorch on the same Fashion-MNIST
sample (disjoint from the reference and target samples), and its weights are
cached on disk so that reruns do not retrain it.
"""

import os

import numpy as np
import torch
from torch import nn

#: name -> (architecture, width, epochs multiplier, label-noise share)
SMALL_ZOO = {
    "mlp_h128": ("mlp", 128, 1.0, 0.0),
    "mlp_h512": ("mlp", 512, 1.0, 0.0),
    "cnn_c8": ("cnn", 8, 1.0, 0.0),
    "cnn_c32": ("cnn", 32, 1.0, 0.0),
    "cnn_c32_short": ("cnn", 32, 0.1, 0.0),
    "cnn_c8_noise50": ("cnn", 8, 1.0, 0.5),
    "cnn_c32_noise50": ("cnn", 32, 1.0, 0.5),
    "cnn_c32_noise90": ("cnn", 32, 1.0, 0.9),
    "cnn_c32_untrained": ("cnn", 32, 0.0, 0.0),
}


class SmallMLP(nn.Module):
    """Flattened 28x28 grey image -> ``width`` -> ``width // 4`` (the embedding)."""

    def __init__(self, width=128):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(784, width), nn.ReLU(),
                                 nn.Linear(width, width // 4), nn.ReLU())
        self.out_features = width // 4

    def forward(self, x):
        return self.net(x[:, :1])


class SmallCNN(nn.Module):
    """Three conv blocks (``c``, ``2c``, ``4c`` channels), global average pooling."""

    def __init__(self, channels=32):
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * c, 4 * c, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out_features = 4 * c

    def forward(self, x):
        return self.net(x[:, :1])


class Classifier(nn.Module):
    """An encoder followed by a linear head (pretraining and fine-tuning)."""

    def __init__(self, encoder, n_classes):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.out_features, n_classes)

    def forward(self, x):
        return self.head(self.encoder(x))


def build_encoder(name):
    arch, width, _, _ = SMALL_ZOO[name]
    return SmallMLP(width) if arch == "mlp" else SmallCNN(width)


def pretrain(name, X, y, *, epochs, seed, cache_dir=None, threads=None):
    """Pretrain the small encoder ``name`` on ``(X, y)``; cached by name and data.

    Returns
    -------
    model : Classifier
        Encoder and pretraining head, in eval mode.
    info : dict
        Epochs, label noise, pretraining accuracy on the clean labels, seconds.
    """
    import joblib
    from skorch import NeuralNetClassifier

    arch, width, epoch_share, noise = SMALL_ZOO[name]
    n_epochs = epochs * epoch_share
    key = joblib.hash((name, SMALL_ZOO[name], epochs, seed, joblib.hash(X), joblib.hash(y)))
    path = None if cache_dir is None else os.path.join(cache_dir, f"{name}-{key[:16]}.pt")
    torch.manual_seed(seed)
    model = Classifier(build_encoder(name), int(y.max()) + 1)
    if path is not None and os.path.exists(path):
        saved = torch.load(path, map_location="cpu", weights_only=False)
        model.load_state_dict(saved["state"])
        return model.eval(), saved["info"]
    rng = np.random.RandomState(seed)
    y_noisy = y.copy()
    flip = rng.rand(len(y)) < noise
    y_noisy[flip] = rng.randint(0, int(y.max()) + 1, size=int(flip.sum()))
    import time

    t0 = time.perf_counter()
    if n_epochs > 0:
        # a fractional epoch count trains on the first share of one shuffled epoch
        n_full, frac = int(n_epochs), n_epochs - int(n_epochs)
        Xf, yf = X.astype(np.float32), y_noisy.astype(np.int64)
        net = NeuralNetClassifier(model, criterion=nn.CrossEntropyLoss,
                                  optimizer=torch.optim.Adam, lr=1e-3, batch_size=128,
                                  max_epochs=max(n_full, 1), train_split=None,
                                  iterator_train__shuffle=True, device="cpu", verbose=0)
        if n_full == 0:
            m = max(128, int(frac * len(yf)))
            idx = rng.permutation(len(yf))[:m]
            net.fit(Xf[idx], yf[idx])
        else:
            net.fit(Xf, yf)
        model = net.module_
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.from_numpy(X[i:i + 1024].astype(np.float32))).argmax(1)
                          for i in range(0, len(X), 1024)]).numpy()
    info = {"architecture": arch, "width": width, "embedding_dim": model.encoder.out_features,
            "epochs": n_epochs, "label_noise": noise,
            "pretrain_accuracy_clean_labels": float(np.mean(pred == y)),
            "n_pretrain": int(len(y)), "seconds": time.perf_counter() - t0}
    if path is not None:
        os.makedirs(cache_dir, exist_ok=True)
        torch.save({"state": model.state_dict(), "info": info}, path + ".tmp")
        os.replace(path + ".tmp", path)
    return model, info


class SourceHeadEncoder(nn.Module):
    """The pretrained encoder alone (what the zoo embeds with), keeping its head."""

    def __init__(self, classifier):
        super().__init__()
        self.encoder = classifier.encoder
        self.source = classifier.head

    def forward(self, x):
        return self.encoder(x)
