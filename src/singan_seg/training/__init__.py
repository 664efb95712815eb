"""Training SinGAN-Seg generators: one pair (`train`), or K pairs fused into one network (`train_many`).

    loop.py      train() and train_scale(): the SinGAN recipe, one scale at a time, checkpointed
    steps.py     the parts of an iteration both loops share (critic updates, penalty, optimisers, autocast)
    many.py      train_many(): K pairs with the same pyramid trained at once as grouped convolutions
    prior.py     train_prior(): a domain prior, one pyramid trained on many pairs (issue #32)
    warm.py      warm starts: a pair's scales initialised from a prior, fine-tuned with fewer iterations
    resume.py    output-directory checks and mid-scale checkpoints (resume equals an uninterrupted run)
    estimate.py  measured cost per scale on this machine (dry runs, benchmarks)
    progress.py  the progress bar (time left weighted by each scale's cost)
"""

from .estimate import CostEstimate, measure_training_cost
from .loop import train, train_scale
from .many import ManyResult, train_many
from .prior import select_prior_pairs, train_prior

__all__ = ["CostEstimate", "ManyResult", "measure_training_cost", "select_prior_pairs", "train", "train_many",
           "train_prior", "train_scale"]
