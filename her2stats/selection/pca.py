"""PCA compression of deep features (seed 003: ResNet 2048-d penultimate features -> 64 components).

This is scikit-learn's :class:`~sklearn.decomposition.PCA`, configured so that it composes with
the her2stats selectors: DataFrame output with columns ``pca0 ... pca63`` and a fixed
``random_state`` (the randomized SVD solver is seeded). Put it inside the Pipeline so the
components are learnt from training patients only; a PCA fitted on all patients before a
train/test split uses the test patients' feature covariance (unsupervised, but still leakage
of the test distribution into the model).
"""
from __future__ import annotations

from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from ..errors import InputError
from ..stats._core import renamed_args


@renamed_args(random_state="seed")
def make_pca(n_components: int = 64, scale: bool = False, whiten: bool = False, seed: int | None = 0
             ) -> PCA | Pipeline:
    """A PCA step (optionally preceded by standardisation) that returns a DataFrame.

    Parameters
    ----------
    n_components : number of components kept (seed 003: 64); must not exceed the number of
        training patients or features (sklearn raises otherwise).
    scale : standardise features first (PCA on the correlation rather than covariance matrix);
        deep features share one scale, so seed 003's plain PCA is the default.
    whiten : divide the components by their singular values (unit variance).
    seed : seed for the randomized SVD solver sklearn picks for large inputs.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.linear_model import LogisticRegression
    >>> model = make_pipeline(make_pca(64), LogisticRegression(max_iter=1000))  # doctest: +SKIP
    """
    if not isinstance(n_components, int) or n_components < 1:
        raise InputError(f"n_components must be a positive integer, got {n_components!r}")
    pca = PCA(n_components=n_components, whiten=whiten, random_state=seed)
    step = make_pipeline(StandardScaler(), pca) if scale else pca
    return step.set_output(transform="pandas")
