"""Regenerate tests/evaluate/fixtures/chelsea_features.json: Inception features of skimage.data.chelsea().

Run only when the feature extractor is deliberately changed; the test compares against these numbers.
"""

import json
from pathlib import Path

import skimage.data

from singan_seg.evaluate.inception import WEIGHTS_SHA256, get_extractor

image = skimage.data.chelsea()  # (300, 451, 3) uint8, public domain
extractor = get_extractor()
pool = extractor.pool_features([image])[0]  # (2048,)
fixture = {"image": "skimage.data.chelsea", "shape": list(image.shape), "weights_sha256": WEIGHTS_SHA256,
           "pool2_mean": float(pool.mean()), "pool2_first16": pool[:16].tolist(), "pool2_argmax": int(pool.argmax())}
for layer in ("conv_4", "pool0"):
    feats = extractor.spatial_features(image, layer)  # (h * w, C)
    fixture[f"{layer}_positions"] = int(feats.shape[0])
    fixture[f"{layer}_channel_mean_first16"] = feats.mean(0)[:16].tolist()
    fixture[f"{layer}_mean"] = float(feats.mean())
out = Path(__file__).resolve().parents[1] / "tests" / "evaluate" / "fixtures" / "chelsea_features.json"
out.write_text(json.dumps(fixture, indent=1) + "\n")
print(f"wrote {out}")
