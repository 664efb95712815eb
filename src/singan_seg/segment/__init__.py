"""The segmentation benchmark (paper Tables 2 and 3): UNet++ trained on real, synthetic or both, tested on real.

    data.py         real folds and synthetic sets at 128 px, fold-leakage checks, joint augmentation
    model.py        smp UNet++ with the paper's or the quick encoder (offline weights only), C in / K out
    metrics.py      Dice loss, IoU, F-score, accuracy, recall, precision on the polyp class (or per class)
    train.py        SegConfig, the protocols (paper, quick), the training loop with resume
    experiments.py  real, fake, real+fake, small-data; JSON, markdown table and plot
    paper.py        the paper's numbers
"""

from importlib import import_module

# Loaded on first use: `singan-seg` imports this package for its CLI, and smp/timm take seconds to import.
_API = {"run_benchmark": "experiments", "plan_runs": "experiments", "EXPERIMENTS": "experiments",
        "train_segmenter": "train", "SegConfig": "train", "PROTOCOLS": "train", "protocol_config": "train",
        "load_best": "train", "build_segmenter": "model", "evaluate_masks": "metrics", "synthetic_pairs": "data"}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(f".{_API[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
