"""Exact k-nearest-neighbour search and the classifier built on it, from scratch in numpy.

* :mod:`.brute` — every reference scored in cache-sized tiles: the brute-force limit.
* :mod:`.pruned` — the same answers for less work: a rotation-invariant lower bound skips
  references that cannot be among the k nearest.
* :mod:`.screened` — the same idea for few features (``fast``'s PCA-30), in one compiled
  kernel that never writes a score tile.
* :mod:`.classifier` — ``KNNClassifier`` (scikit-learn's interface), votes and the tie rule.
* :mod:`.checks`, :mod:`.parallel` — argument checks at the edge; running on every core.
"""

from .brute import DEFAULT_MEMORY_BUDGET_MB, Metric, NeighborIndex, search_kneighbors
from .checks import candidate_indices
from .classifier import KNNClassifier, break_ties, vote
from .parallel import single_threaded_blas

__all__ = [
    "DEFAULT_MEMORY_BUDGET_MB",
    "KNNClassifier",
    "Metric",
    "NeighborIndex",
    "break_ties",
    "candidate_indices",
    "search_kneighbors",
    "single_threaded_blas",
    "vote",
]
