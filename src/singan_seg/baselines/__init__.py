"""Multi-image GAN baselines with 4-channel output (RGB + mask): DCGAN, Progressive GAN, FastGAN.

The paper (Thambawita et al. 2022, Tables 4 and 5) compares SinGAN-Seg with these three GANs trained on all 1000
Kvasir-SEG pairs (and FastGAN on 5...50 pairs). Each arch lives in one module with its networks and its paper's loss;
the loop, checkpoints and sampling are shared.

    data = load_pair_set("kvasir/images", "kvasir/masks", resolution=128)        # PairSet, 4 channels in [-1, 1]
    train_baseline(data, baseline_config("fastgan"), "models/fastgan", minutes=30)  # checkpointed, resumable
    generate_baseline("models/fastgan", "samples/fastgan", num=1000, seed=0)      # images/, masks/, manifest.csv
"""

from .config import ARCHS, PAPER, BaselineConfig, baseline_config
from .data import PairSet, load_pair_set, pair_set_from_arrays
from .generate import BaselineModel, generate_baseline, load_baseline, sample_baseline
from .train import TrainResult, train_baseline

__all__ = ["ARCHS", "PAPER", "BaselineConfig", "baseline_config", "PairSet", "load_pair_set", "pair_set_from_arrays",
           "BaselineModel", "generate_baseline", "load_baseline", "sample_baseline", "TrainResult", "train_baseline"]
