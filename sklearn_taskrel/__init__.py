"""sklearn_taskrel: which pre-trained encoder to fine-tune, before fine-tuning any.

Task-relatedness (Mehra, Zhang & Hamm, NeurIPS 2024) and the established
transferability scores, as scikit-learn estimators.
"""

from sklearn_taskrel._estimator import TaskRelatednessScorer
from sklearn_taskrel._reference import ReferenceTask
from sklearn_taskrel._version import __version__
from sklearn_taskrel.model_selection import rank_encoders

__all__ = ["ReferenceTask", "TaskRelatednessScorer", "__version__", "rank_encoders"]
