"""Training and fine-tuning networks on image cases (seeds 000 pilot, 001, 003, 004).

Frozen features (:class:`her2stats.features.DeepFeatureExtractor`) stay the default of a study;
this package trains networks where a study needs it, without the leakage of choosing checkpoints
on the test fold:

* :class:`NetworkClassifier` / :func:`fit_network`: any timm 2-D model or a 3-D ResNet-18,
  ``freeze="none" | "backbone" | "all-but-last-k"``, augmentation, Mixup, class weights, early
  stopping and checkpoint / hyper-parameter selection on an inner validation split of the
  training cases only, deterministic on CPU, mixed precision on GPU; an sklearn classifier.
* :class:`FoldEnsembleClassifier`: k-fold CV with out-of-fold predictions and fold-model
  averaging for new cases (seed 004).
* :class:`Augmentation`, :func:`mixup`; :func:`load_inputs` (2-D, 2.5-D, 3-D ROI inputs).

Importing this package does not import torch.
"""
from .augment import Augmentation, mixup
from .classifier import NetworkClassifier, TrainingHistory, fit_network
from .ensemble import FoldEnsembleClassifier
from .inputs import load_inputs
from .segmentation import SegmentationHistory, SegmentationNetwork, fit_segmentation_network

__all__ = ["Augmentation", "FoldEnsembleClassifier", "NetworkClassifier", "TrainingHistory", "fit_network",
           "load_inputs", "mixup", "SegmentationHistory", "SegmentationNetwork", "fit_segmentation_network"]
