"""Training and test sets for the segmentation benchmark: real folds and synthetic sets, at 128 x 128.

Real pairs come from DATA/images + DATA/masks (paired by stem) with folds from folds.csv. Synthetic pairs come
from a `build-dataset` folder or an exported/samples folder: its manifest.csv names each pair's files
(relative to the folder) and its source id, and usually its fold. Where the fold is missing it is looked up in
folds.csv; a source id found in neither is refused, since its fold (and so its leakage) cannot be checked.

Every pair is decoded and resized once (images bilinear; masks bilinear on gray, then >= 128) and kept in memory
as uint8, so an epoch costs no JPEG decoding. Augmentation (torchvision.transforms.v2) moves image and mask
together (flips, 90-degree rotations, small rotations) and changes colour on the image only; its randomness
is seeded by (seed, epoch, index), so a resumed run sees the same batches as an uninterrupted one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.dataset import find_pairs, read_folds
from ..data.images import decoding, open_image
from ..data.samples_dir import read_manifest_rows
from ..errors import InputError
from ..rng import seeded_generator


@dataclass(frozen=True)
class SyntheticPair:
    image: Path
    mask: Path
    source_id: str
    fold: int
    style: str  # "No ST", "1:1", "1:1000", "fast", ...


# ---- reading ---------------------------------------------------------------------------------------------

def load_resized(image_path: Path, mask_path: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(size, size, 3) uint8 image and (size, size) bool mask; the pair is squashed to a square (as the paper)."""
    with open_image(image_path, "image", load=False) as im, decoding(image_path, "image"):
        im.draft("RGB", (size, size))  # JPEG: decode at a reduced scale (>= size), much faster
        image = im.convert("RGB")
    with open_image(mask_path, "mask", load=False) as mk, decoding(mask_path, "mask"):
        mk.draft("L", (size, size))
        mask = mk.convert("L")
    if image.size != mask.size:  # a draft may decode the two at different scales; match the image
        mask = mask.resize(image.size, Image.BILINEAR)
    image = np.asarray(image.resize((size, size), Image.BILINEAR))
    mask = np.asarray(mask.resize((size, size), Image.BILINEAR)) >= 128
    return image, mask


def real_pairs(data_dir: str | Path, folds_csv: str | Path) -> tuple[dict[str, tuple[Path, Path]], dict[str, int]]:
    """{id: (image, mask)} of DATA/images + DATA/masks and {id: fold} from folds.csv (every id must have one)."""
    data_dir = Path(data_dir)
    pairs = find_pairs(data_dir / "images", data_dir / "masks")
    folds = read_folds(folds_csv, [p.id for p in pairs])
    return {p.id: (p.image, p.mask) for p in pairs}, folds


def synthetic_pairs(directory: str | Path, folds: dict[str, int], folds_csv: str | Path = "folds.csv"
                    ) -> list[SyntheticPair]:
    """Every pair listed in DIR/manifest.csv with its source id, fold and style setting.

    A manifest fold that disagrees with folds.csv is refused: the synthetic data was built on another split.
    """
    directory = Path(directory)
    manifest = directory / "manifest.csv"
    if not manifest.is_file():
        raise InputError("not a synthetic dataset: no manifest.csv (use a build-dataset or export folder)",
                         directory)
    rows = read_manifest_rows(manifest, ("image", "mask", "source_id"))
    if not rows:
        raise InputError("manifest lists no pairs", manifest)
    out = []
    for line, row in enumerate(rows, start=2):
        source = row["source_id"]
        listed = row.get("fold", "")
        if source not in folds and listed == "":
            raise InputError(f"line {line}: source {source!r} has no fold here and is not in {folds_csv}; "
                             f"its leakage into the test fold cannot be checked", manifest)
        if listed != "" and source in folds and int(listed) != folds[source]:
            raise InputError(f"line {line}: source {source!r} is in fold {listed} here but fold {folds[source]} "
                             f"in {folds_csv}; the synthetic data was built on another split", manifest)
        for column in ("image", "mask"):
            if not (directory / row[column]).is_file():
                raise InputError(f"line {line}: {row[column]} is missing", manifest)
        out.append(SyntheticPair(image=directory / row["image"], mask=directory / row["mask"], source_id=source,
                                 fold=int(listed) if listed != "" else folds[source], style=style_label(row)))
    return out


def style_label(row: dict[str, str]) -> str:
    """The paper's "ST" column: No ST, or the content:style ratio (or the method when not Gatys)."""
    method = row.get("style_method", "")
    if not method:
        return "No ST"
    return row.get("style_ratio", "") if method == "gatys" else method


def refuse_leakage(pairs: list[SyntheticPair], test_folds: set[int], where: str | Path) -> None:
    """InputError if any synthetic pair was made from a real image of a test fold."""
    leaking = [p for p in pairs if p.fold in test_folds]
    if leaking:
        sources = sorted({p.source_id for p in leaking})
        raise InputError(f"{len(leaking)} synthetic pair(s) come from test-fold images (fold "
                         f"{sorted({p.fold for p in leaking})}, e.g. source {sources[0]!r}); use "
                         f"`singan-seg export --exclude-fold K` or the build-dataset folder", where)


def per_source_counts(pairs: list[SyntheticPair]) -> Counter:
    return Counter(p.source_id for p in pairs)


# ---- in-memory arrays and the torch dataset --------------------------------------------------------------

@dataclass
class Arrays:
    """Pairs decoded once: images (N, S, S, 3) uint8, masks (N, S, S) bool, names for reports."""
    images: np.ndarray
    masks: np.ndarray
    names: list[str]

    def __len__(self) -> int:
        return len(self.names)

    @staticmethod
    def concat(parts: list[Arrays]) -> Arrays:
        parts = [p for p in parts if len(p)]
        return Arrays(np.concatenate([p.images for p in parts]), np.concatenate([p.masks for p in parts]),
                      [n for p in parts for n in p.names])


def load_arrays(files: list[tuple[str, Path, Path]], size: int) -> Arrays:
    """Decode and resize (name, image, mask) triples."""
    images = np.zeros((len(files), size, size, 3), np.uint8)
    masks = np.zeros((len(files), size, size), bool)
    for i, (_, image, mask) in enumerate(files):
        images[i], masks[i] = load_resized(image, mask, size)
    return Arrays(images, masks, [name for name, _, _ in files])


def augmentation():
    """Joint image/mask augmentation; ColorJitter touches tv_tensors.Image only, never the Mask."""
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
        v2.RandomChoice([v2.RandomRotation((a, a)) for a in (0, 90, 180, 270)]),
        v2.RandomApply([v2.RandomAffine(degrees=15, translate=(0.05, 0.05), scale=(0.9, 1.1))], p=0.5),
        v2.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
    ])


class SegDataset(torch.utils.data.Dataset):
    """(image (3, S, S) float in [0, 1], mask (1, S, S) float 0/1); augmented when `augment`."""

    def __init__(self, arrays: Arrays, augment: bool = False, seed: int = 0):
        self.arrays, self.seed, self.epoch = arrays, seed, 0
        self.transform = augmentation() if augment else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision import tv_tensors

        image = torch.from_numpy(self.arrays.images[index]).permute(2, 0, 1)  # (3, S, S) uint8
        mask = torch.from_numpy(self.arrays.masks[index]).to(torch.uint8)[None]  # (1, S, S)
        if self.transform is not None:
            with torch.random.fork_rng(devices=[]):  # v2 draws from the global generator: seed it per item
                torch.manual_seed(int(seeded_generator(self.seed, self.epoch, index).initial_seed()))
                image, mask = self.transform(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return image.float() / 255, mask.float()
