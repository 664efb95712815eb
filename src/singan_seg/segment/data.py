"""Training and test sets for the segmentation benchmark: real folds and synthetic sets, at 128 x 128.

Real pairs come from DATA/images + DATA/masks (paired by stem) with folds from folds.csv. Synthetic pairs come
from a `build-dataset` folder or an exported/samples folder: its manifest.csv names each pair's files
(relative to the folder) and its source id, and usually its fold. Where the fold is missing it is looked up in
folds.csv; a source id found in neither is refused, since its fold (and so its leakage) cannot be checked.

Every pair is decoded and resized once (images bilinear; masks bilinear on gray, then >= 128) and kept in memory
as uint8, so an epoch costs no JPEG decoding. Augmentation (torchvision.transforms.v2) moves image and mask
together (flips, 90-degree rotations, small rotations) and changes colour on the image only; its randomness
is seeded by (seed, epoch, index), so a resumed run sees the same batches as an uninterrupted one.

Other modalities (data/modality.py): the real images' channels and bit depth are read from their files (the
most channels and the highest depth of any image; gray becomes RGB where others are RGB), the mask classes
are declared (`--classes`), and every synthetic set must hold the same classes and channels (its
modality.json). Such pairs are read with `read_pixels` + `shape_image` (real) or `load_sample` (synthetic),
resized with antialiased bilinear filtering (images, kept at their bit depth) and nearest neighbour (class
masks: no blended class values), and scaled to [0, 1] by their bit depth's maximum. RGB 8-bit pairs with binary
masks take the original path above, unchanged.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.dataset import find_pairs, read_folds
from ..data.images import decoding, image_kind, open_image
from ..data.modality import RGB_BINARY, MaskClass, Modality
from ..data.pairs import read_image_as, read_mask_as
from ..data.samples_dir import MODALITY_FILE, load_sample, read_manifest_rows, read_samples_modality
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


def real_modality(images: list[Path], classes: tuple[MaskClass, ...] | None = None) -> Modality:
    """The real data's modality: the most channels and the highest bit depth of its images, and `classes`.

    A folder mixing gray and RGB images is read as RGB (gray replicated) and one mixing depths at 16 bits, as
    `shape_image` converts; any other mix (e.g. 1 and 4 channels) is refused when the odd image is read."""
    layouts = [image_kind(path)[:2] for path in images]
    return Modality(max(c for c, _ in layouts), max(d for _, d in layouts), classes)


def check_synthetic_modality(directory: Path, pairs: list[SyntheticPair], real: Modality) -> int:
    """The synthetic set's highest bit depth, refusing one whose classes or image channels differ from the real
    data's: a model cannot train on one set of classes and be tested on another.

    Each pair's modality is that of the samples dir holding its image (DIR/images/x.png -> DIR/modality.json;
    a build-dataset folder's pairs/<id>/samples/), else the set's own DIR/modality.json (none: RGB 8-bit binary).
    """
    directory = Path(directory)
    root = read_samples_modality(directory)
    depth = 8
    for samples in sorted({p.image.parent.parent for p in pairs}):
        own = samples != directory and directory in samples.parents and (samples / MODALITY_FILE).is_file()
        modality = read_samples_modality(samples) if own else root
        if modality.channels != real.channels or modality.classes != real.classes:
            where = "the real data" + (" (--classes)" if real.classes is not None else " (no --classes: binary)")
            raise InputError(f"samples hold {modality.describe()} but {where} is {real.describe()}; the classes and "
                             f"image channels must match", samples if own else directory)
        depth = max(depth, modality.bit_depth)
    return depth


def load_modality_pair(image_path: Path, mask_path: Path, modality: Modality, samples_dir: Path | None = None
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, C) image at the modality's channels and depth, and the bool or class-index mask, at full size.

    Real pairs (no `samples_dir`) are read as files; synthetic ones through the samples-dir reader."""
    if samples_dir is not None:
        row = {"image": str(image_path.relative_to(samples_dir)), "mask": str(mask_path.relative_to(samples_dir))}
        return load_sample(samples_dir, row, modality)
    return read_image_as(image_path, modality, "the real data is"), read_mask_as(mask_path, modality)


def resize_image(image: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) uint8/uint16 -> (size, size, C) of the same dtype, bilinear with antialiasing (as Pillow's)."""
    import torch.nn.functional as F

    x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None]
    x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    top = np.iinfo(image.dtype).max
    return x[0].permute(1, 2, 0).round().clamp(0, top).numpy().astype(image.dtype)


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """A bool mask bilinear on 0/255 then >= 128 (as the RGB path); class indices nearest (no blended classes)."""
    if mask.dtype == bool:
        gray = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8))
        return np.asarray(gray.resize((size, size), Image.BILINEAR)) >= 128
    return np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((size, size), Image.NEAREST))


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
    """Pairs decoded once: images (N, S, S, C) uint8 or uint16, masks (N, S, S) bool (binary) or uint8 class
    indices, names for reports."""
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


def load_arrays(files: list[tuple[str, Path, Path]], size: int, modality: Modality = RGB_BINARY,
                samples_dir: Path | None = None) -> Arrays:
    """Decode and resize (name, image, mask) triples; `samples_dir`: they are synthetic pairs listed there.

    The default modality (RGB 8-bit, binary) takes the original Pillow path; any other is converted to the
    modality's channels and bit depth, so real and synthetic arrays concatenate."""
    images = np.zeros((len(files), size, size, modality.channels), modality.dtype)
    masks = np.zeros((len(files), size, size), bool if modality.is_binary else np.uint8)
    for i, (_, image, mask) in enumerate(files):
        if modality.is_default:
            images[i], masks[i] = load_resized(image, mask, size)
        else:
            full_image, full_mask = load_modality_pair(image, mask, modality, samples_dir)
            images[i], masks[i] = resize_image(full_image, size), resize_mask(full_mask, size)
    return Arrays(images, masks, [name for name, _, _ in files])


def augmentation(channels: int = 3):
    """Joint image/mask augmentation; ColorJitter touches tv_tensors.Image only, never the Mask.

    Saturation and hue exist for RGB only, contrast for gray and RGB (torchvision); other channel counts get
    brightness alone."""
    from torchvision.transforms import v2

    jitter = {"brightness": 0.2}
    if channels in (1, 3):
        jitter["contrast"] = 0.2
    if channels == 3:
        jitter.update(saturation=0.2, hue=0.02)
    return v2.Compose([
        v2.RandomHorizontalFlip(), v2.RandomVerticalFlip(),
        v2.RandomChoice([v2.RandomRotation((a, a)) for a in (0, 90, 180, 270)]),
        v2.RandomApply([v2.RandomAffine(degrees=15, translate=(0.05, 0.05), scale=(0.9, 1.1))], p=0.5),
        v2.ColorJitter(**jitter),
    ])


class SegDataset(torch.utils.data.Dataset):
    """(image (C, S, S) float in [0, 1], mask (1, S, S)): float 0/1 for a binary mask, int64 class indices for a
    multi-class one; augmented when `augment`.

    RGB 8-bit images are augmented as uint8 (the original path); any other is scaled to [0, 1] by its bit
    depth's maximum first (torchvision's geometry needs float for uint16, and its colour ops clamp floats to 1).

    `length` > len(arrays) repeats the set: item i is pair i % len(arrays), augmented with its own draw (i)."""

    def __init__(self, arrays: Arrays, augment: bool = False, seed: int = 0, length: int | None = None):
        self.arrays, self.seed, self.epoch = arrays, seed, 0
        self.length = len(arrays) if length is None else length
        if self.length < len(arrays):
            raise ValueError(f"length {self.length} is shorter than the {len(arrays)} pairs")
        self.channels = arrays.images.shape[3]
        self.as_uint8 = arrays.images.dtype == np.uint8 and self.channels == 3
        self.top = float(np.iinfo(arrays.images.dtype).max)
        self.transform = augmentation(self.channels) if augment else None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        from torchvision import tv_tensors

        pair = index % len(self.arrays)
        image = torch.from_numpy(self.arrays.images[pair]).permute(2, 0, 1)  # (C, S, S) uint8 / uint16
        if not self.as_uint8:
            image = image.float() / self.top
        mask = torch.from_numpy(self.arrays.masks[pair]).to(torch.uint8)[None]  # (1, S, S)
        if self.transform is not None:
            with torch.random.fork_rng(devices=[]):  # v2 draws from the global generator: seed it per item
                torch.manual_seed(int(seeded_generator(self.seed, self.epoch, index).initial_seed()))
                image, mask = self.transform(tv_tensors.Image(image), tv_tensors.Mask(mask))
        image = image.float() / 255 if self.as_uint8 else image.as_subclass(torch.Tensor)
        mask = mask.float() if self.arrays.masks.dtype == bool else mask.long()
        return image, mask.as_subclass(torch.Tensor)
