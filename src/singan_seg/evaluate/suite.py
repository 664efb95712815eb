"""All metrics of one synthetic set in one call: what `evaluate report` computes before rendering.

Any modality: the samples directory's modality.json says what its images and masks hold; a real folder is read at
its own channels and bit depth, with its masks read as the samples' classes. Every set must have the samples'
channel count (see inception.CHANNELS_RULE for how the network sees them)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .fid import FewImagesWarning, FidResult, fid
from .image_sets import ImageSet, check_same_channels, common_masks, load_image_set
from .inception import CHANNELS_RULE
from .masks import MaskStats, mask_statistics
from .privacy import PrivacyAudit, check_heldout, privacy_audit
from .sifid import SifidResult, sifid


@dataclass
class Evaluation:
    """Results; a metric is None where its inputs were not given. `notes` lists warnings for the report."""

    samples: ImageSet
    real: ImageSet
    sifid: SifidResult | None = None
    fid: FidResult | None = None
    masks: MaskStats | None = None
    privacy: PrivacyAudit | None = None
    train_real: ImageSet | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = {"samples": str(self.samples.root), "real": str(self.real.root), "n_samples": len(self.samples),
               "n_real": len(self.real), "notes": self.notes,
               **{name: (None if getattr(self, name) is None else getattr(self, name).to_dict())
                  for name in ("sifid", "fid", "masks", "privacy")}}
        if not self.samples.modality.is_default:  # RGB 8-bit binary reports stay as they always were
            out["modality"] = self.samples.modality.to_dict()
        return out


def evaluate_samples(samples: str | Path, real: str | Path, train_real: str | Path | None = None,
                     heldout_real: str | Path | None = None, sifid_channels: int = 192, with_fid: bool = True,
                     weights: str | Path | None = None, device: str = "cpu", progress: bool = True) -> Evaluation:
    """SIFID, FID, mask statistics and (with held-out images) the privacy audit of a samples dir.

    Args:
        samples: samples dir (manifest source_id names each sample's real image).
        real: the real source image(s): one file or a folder (Kvasir layout: images/ + masks/).
        train_real: real images the generators were trained on (default: `real`).
        heldout_real: real images not used for training; enables the privacy audit.
        sifid_channels: 192 (reference) or 64.
        with_fid: compute FID of samples vs real (warns below 2049 images).
        weights, device, progress: as for `fid`.
    """
    samples_set, real_set = common_masks(load_image_set(samples), load_image_set(real))
    given = [(samples_set, "samples"), (real_set, "real")]
    if heldout_real is not None:  # fail fast: before SIFID and FID run the network
        train_set = load_image_set(train_real) if train_real is not None else real_set
        heldout_set = load_image_set(heldout_real)
        given += [(train_set, "training"), (heldout_set, "held-out")]
    check_same_channels(given, "the evaluation")
    if heldout_real is not None:
        check_heldout(train_set, heldout_set)
    if with_fid:
        for images, name in ((real_set, "real"), (samples_set, "samples")):
            if len(images) < 2:
                raise InputError(f"FID needs at least 2 images per set, the {name} set has {len(images)}; skip FID "
                                 "with --no-fid (with_fid=False): SIFID, masks and privacy need no more",
                                 images.image_paths[0] if images.single_file else images.root)
    result = Evaluation(samples_set, real_set)
    result.sifid = sifid(samples_set, real_set, sifid_channels, weights, device, progress)
    if with_fid:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", FewImagesWarning)
            result.fid = fid(real_set, samples_set, weights, device, progress=progress)
        result.notes += [str(w.message) for w in caught if issubclass(w.category, FewImagesWarning)]
        for note in result.notes:
            warnings.warn(note, FewImagesWarning, stacklevel=2)
    modality = samples_set.modality
    if modality.channels != 3 or {modality.bit_depth, real_set.modality.bit_depth} != {8}:
        result.notes.append(f"{modality.describe()}: Inception input rule: {CHANNELS_RULE}")
    if all(m is not None for m in real_set.mask_paths):
        result.masks = mask_statistics(samples_set, real_set)
    else:
        result.notes.append("mask statistics skipped: the real set has no masks/ folder")
    if heldout_real is not None:
        result.train_real = train_set
        result.privacy = privacy_audit(samples_set, train_set, heldout_set, weights=weights,
                                       device=device, progress=progress)
    else:
        result.notes.append("privacy audit skipped: no held-out real images given")
    return result
