"""Sizes of the full benchmark and of ``--quick`` (a CI smoke test).

Everything that changes a number in the results is here, and is written into the
results JSON, so that a reader can see what was run. The full settings were sized
for 60 minutes on 2 CPU cores; the full run recorded in ``benchmarks/results`` was
made with part of the cache warm (see its ``timing``), and a run from an empty cache
has not been timed on a quiet machine.
"""

from dataclasses import asdict, dataclass, field


@dataclass
class FineTune:
    """End-to-end fine-tuning of an encoder with a new linear head (skorch)."""

    epochs: int = 3
    batch_size: int = 32
    lr: float = 2e-4          # encoder weights (AdamW)
    head_lr: float = 2e-3     # the new linear head
    weight_decay: float = 1e-4
    seeds: tuple = (0, 1, 2)


@dataclass
class Settings:
    """One configuration of the benchmark."""

    name: str = "full"
    zoos: tuple = ("small", "vision", "text")
    threads: int = 1          # BLAS/torch threads per process
    n_jobs: int = 2           # worker processes (fine-tuning, pretraining, scoring)
    seed: int = 0
    # vision zoo (ImageNet encoders)
    vision_encoders: tuple = ("effnet_lite0", "effnet_lite1", "effnet_lite2",
                              "mobilenet_v2", "open_nsfw")
    vision_image_size: int = 32
    vision_n_train: int = 300
    vision_n_test: int = 400
    vision_n_reference: int = 600          # per reference dataset
    vision_targets: tuple = ("fmnist10", "digits10", "textile3", "fmnist_tops4",
                             "digits_longtail", "fmnist10_permuted")
    vision_references: tuple = ("other_dataset", "imagenet_consensus", "imagenet_own_head")
    vision_default_reference: str = "imagenet_consensus"
    vision_finetune: FineTune = field(default_factory=FineTune)
    # text zoo
    text_encoders: tuple = ("minilm_l6", "minilm_l3_onnx", "e5_small_q4", "spacy_md",
                            "spacy_sm")
    text_n_train: int = 400
    text_n_test: int = 400
    text_n_reference: int = 600
    text_targets: tuple = ("tweet3", "tweet_posneg", "wordnet_noun10")
    text_max_length: int = 128
    text_finetune: FineTune = field(default_factory=lambda: FineTune(
        epochs=2, lr=5e-5, head_lr=1e-2))
    # small-scale zoo (pretrained here)
    small_encoders: tuple = ("mlp_h128", "mlp_h512", "cnn_c8", "cnn_c32", "cnn_c32_short",
                             "cnn_c8_noise50", "cnn_c32_noise50", "cnn_c32_noise90",
                             "cnn_c32_untrained")
    small_n_pretrain: int = 12000
    small_pretrain_epochs: int = 5
    small_n_train: int = 400
    small_n_test: int = 400
    small_n_reference: int = 1000
    small_targets: tuple = ("fmnist10", "fmnist10_permuted", "fmnist_coarse4", "digits10",
                            "textile3")
    small_finetune: FineTune = field(default_factory=lambda: FineTune(
        epochs=20, lr=2e-3, head_lr=2e-2, batch_size=32))
    # ground-truth linear probe
    probe_C: float = 0.1
    # methods
    methods: tuple = ()                    # empty: every available method

    def as_dict(self):
        return asdict(self)


def full_settings():
    """The full benchmark."""
    return Settings()


def quick_settings():
    """A smoke test: every code path, small slices, a few encoders and targets."""
    return Settings(
        name="quick",
        vision_encoders=("effnet_lite0", "mobilenet_v2", "open_nsfw"),
        vision_n_train=60, vision_n_test=60, vision_n_reference=60,
        vision_targets=("fmnist10", "fmnist10_permuted"),
        vision_references=("other_dataset", "imagenet_consensus"),
        vision_finetune=FineTune(epochs=1, seeds=(0,)),
        text_encoders=("minilm_l3_onnx", "spacy_md", "spacy_sm"),
        text_n_train=80, text_n_test=80, text_n_reference=100,
        text_targets=("tweet3",),
        text_finetune=FineTune(epochs=1, lr=5e-5, head_lr=1e-2, seeds=(0,)),
        small_encoders=("mlp_h128", "cnn_c8", "cnn_c8_noise50"),
        small_n_pretrain=2000, small_pretrain_epochs=1,
        small_n_train=100, small_n_test=100, small_n_reference=200,
        # three targets whose fine-tuned accuracies separate the encoders (the smoke
        # test's better-than-chance check), and a permuted copy
        small_targets=("fmnist10", "fmnist10_permuted", "digits10", "fmnist_coarse4"),
        small_finetune=FineTune(epochs=3, lr=2e-3, head_lr=2e-2, seeds=(0,)),
    )
