"""The segmentation benchmark (paper Tables 2 and 3): UNet++ trained on real, synthetic or both, tested on real.

    data.py         real folds and synthetic sets at 128 px, fold-leakage checks, joint augmentation
    model.py        smp UNet++ with the paper's or the quick encoder (offline weights only)
    metrics.py      Dice loss, IoU, F-score, accuracy, recall, precision on the polyp class
    train.py        SegConfig, the protocols (paper, quick), the training loop with resume
    experiments.py  real, fake, real+fake, small-data; JSON, markdown table and plot
    paper.py        the paper's numbers
"""
