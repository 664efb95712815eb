"""The paper's segmentation results (Thambawita et al., PLOS ONE 2022), for our tables and plots.

Table 2: three-fold averages of UNet++ trained on real data, or on FAKE-N (N synthetic pairs per real pair) with
no style transfer or content:style ratios 1:1 and 1:1000, tested on the real held-out fold.
Table 3: training on R real images of fold 1 vs 10 synthetic pairs per real one (style 1:1000), tested on folds
2 and 3. Metric order everywhere: METRICS.
"""

from __future__ import annotations

METRICS = ("dice_loss", "iou", "f_score", "accuracy", "recall", "precision")

# (train data, style) -> (dice loss, IoU, F-score, accuracy, recall, precision)
TABLE2: dict[tuple[str, str], tuple[float, ...]] = {
    ("REAL", "NA"): (0.1123, 0.8266, 0.8882, 0.9671, 0.8982, 0.9161),
    ("FAKE-1", "No ST"): (0.1645, 0.7617, 0.8357, 0.9531, 0.8630, 0.8793),
    ("FAKE-1", "1:1"): (0.1504, 0.7782, 0.8500, 0.9572, 0.8672, 0.8917),
    ("FAKE-1", "1:1000"): (0.1473, 0.7820, 0.8530, 0.9591, 0.8624, 0.9005),
    ("FAKE-2", "No ST"): (0.1549, 0.7729, 0.8453, 0.9561, 0.8692, 0.8895),
    ("FAKE-2", "1:1"): (0.1550, 0.7765, 0.8453, 0.9575, 0.8729, 0.8852),
    ("FAKE-2", "1:1000"): (0.1477, 0.7854, 0.8525, 0.9609, 0.8647, 0.9038),
    ("FAKE-3", "No ST"): (0.1610, 0.7683, 0.8391, 0.9556, 0.8568, 0.8945),
    ("FAKE-3", "1:1"): (0.1475, 0.7845, 0.8525, 0.9585, 0.8723, 0.8936),
    ("FAKE-3", "1:1000"): (0.1408, 0.7923, 0.8593, 0.9629, 0.8693, 0.9078),
    ("FAKE-4", "No ST"): (0.1649, 0.7638, 0.8352, 0.9525, 0.8669, 0.8780),
    ("FAKE-4", "1:1"): (0.1464, 0.7848, 0.8537, 0.9594, 0.8713, 0.8921),
    ("FAKE-4", "1:1000"): (0.1370, 0.7983, 0.8630, 0.9636, 0.8653, 0.9185),
    ("FAKE-5", "No ST"): (0.1654, 0.7668, 0.8345, 0.9563, 0.8565, 0.8919),
    ("FAKE-5", "1:1"): (0.1453, 0.7887, 0.8547, 0.9610, 0.8703, 0.9000),
    ("FAKE-5", "1:1000"): (0.1458, 0.7889, 0.8543, 0.9620, 0.8527, 0.9211),
}

# ("Real" | "Fake", number of training images) -> metrics; Fake S = 10 x Real R
TABLE3: dict[tuple[str, int], tuple[float, ...]] = {
    ("Real", 5): (0.4662, 0.4618, 0.5944, 0.8751, 0.7239, 0.6305),
    ("Fake", 50): (0.3063, 0.5993, 0.7048, 0.9211, 0.7090, 0.8133),
    ("Real", 10): (0.3932, 0.5969, 0.7079, 0.9164, 0.7785, 0.7516),
    ("Fake", 100): (0.2565, 0.6478, 0.7457, 0.9259, 0.7911, 0.7970),
    ("Real", 15): (0.2992, 0.6431, 0.7402, 0.9322, 0.7388, 0.8602),
    ("Fake", 150): (0.2852, 0.6559, 0.7624, 0.9329, 0.8172, 0.7833),
    ("Real", 20): (0.3070, 0.6680, 0.7668, 0.9328, 0.7771, 0.8566),
    ("Fake", 200): (0.2532, 0.6569, 0.7544, 0.9342, 0.7317, 0.8827),
    ("Real", 25): (0.2166, 0.6995, 0.7929, 0.9405, 0.7955, 0.8804),
    ("Fake", 250): (0.2182, 0.6961, 0.7860, 0.9418, 0.7690, 0.8957),
    ("Real", 30): (0.2100, 0.7037, 0.7971, 0.9417, 0.8005, 0.8758),
    ("Fake", 300): (0.2228, 0.6843, 0.7797, 0.9388, 0.7683, 0.8810),
    ("Real", 35): (0.2164, 0.6955, 0.7889, 0.9398, 0.8157, 0.8456),
    ("Fake", 350): (0.2465, 0.6677, 0.7543, 0.9346, 0.7385, 0.8933),
    ("Real", 40): (0.2065, 0.7085, 0.7974, 0.9417, 0.7881, 0.8947),
    ("Fake", 400): (0.2194, 0.6894, 0.7816, 0.9305, 0.8276, 0.8219),
    ("Real", 45): (0.1982, 0.7188, 0.8062, 0.9441, 0.8120, 0.8839),
    ("Fake", 450): (0.2319, 0.6794, 0.7697, 0.9341, 0.7859, 0.8633),
    ("Real", 50): (0.2091, 0.7115, 0.7948, 0.9418, 0.7898, 0.8932),
    ("Fake", 500): (0.2255, 0.6896, 0.7756, 0.9380, 0.7961, 0.8644),
}


def table2(train: str, style: str) -> dict[str, float] | None:
    """The paper's Table 2 row as {metric: value}, or None when the paper has no such row."""
    row = TABLE2.get((train, style))
    return None if row is None else dict(zip(METRICS, row))


def table3(kind: str, count: int) -> dict[str, float] | None:
    row = TABLE3.get((kind, count))
    return None if row is None else dict(zip(METRICS, row))
