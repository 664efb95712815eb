"""Non-RGB, multi-class data end to end: a real grayscale MRI slice with 3 classes, and the 16-bit gray phantom.

Cases (each: train, draw --num samples, score them against the real pair, in one run):
- `mri`: an axial slice of the MNI ICBM152 2009a T1 template (1 mm, 8-bit gray) with a 3-class mask (background,
  grey matter, white matter: the template's GM/WM probability maps, a class where its probability is >= 0.5 and
  above the other's). The files ship inside the PyPI wheel of nilearn (no download at run time):
      pip download nilearn==0.14.1 --no-deps -d /tmp/wheel
      unzip -j /tmp/wheel/nilearn-0.14.1-py3-none-any.whl 'nilearn/datasets/data/mni_icbm152_*' -d /tmp/mni
      PYTHONPATH=src python benchmarks/modalities.py --mni /tmp/mni
  The slice goes through `singan_seg.nifti_slices` (canonical RAS, window min..max, 16-bit PNGs) as a user's would.
- `phantom`: `make_labelled_phantom` (made in code): 16-bit gray, background / lesion / core.
Methods: SinGAN-Seg with --preset (default fast) and training-free patchnn.

Scores (singan_seg.evaluate; SIFID by its channel rule: 16 bits / 257, gray replicated to RGB):
SIFID per sample vs the real image at the samples' size; diversity; mask fit per class (components, holes,
empty share) and for the foreground; copied patches (memorisation). Time: training seconds (2 threads unless
--threads) and seconds per sample.

Writes benchmarks/results/modalities.json (commit, version, machine, the MNI files' sha256; numbers only) and,
with --sheet, a contact sheet of the phantom case (made in code, so it may be committed) to docs/images/.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.device import machine_info
from singan_seg.evaluate import diversity, get_extractor, mask_fit, memorisation, sifid_pair
from singan_seg.files import sha256_file, write_json_atomic
from singan_seg.preview import save_contact_sheet

sys.path.insert(0, str(Path(__file__).resolve().parent))
from provenance import portable, provenance  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MNI_FILES = {name: f"mni_icbm152_{name}_tal_nlin_sym_09a_converted.nii.gz" for name in ("t1", "gm", "wm")}
MRI_CLASSES = "background=0,grey matter=1,white matter=2"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mni", type=Path, help="folder with the three MNI ICBM152 files (see above); "
                        "without it only the phantom case runs")
    parser.add_argument("--slice", type=int, default=95, help="axial slice of the template (RAS z index)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--phantom-size", type=int, default=128, help="longest side of the phantom")
    parser.add_argument("--num", type=int, default=10, help="samples per case")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sheet", action="store_true", help="write docs/images/multiclass_phantom.png")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "modalities.json")
    return parser.parse_args()


def mri_pair(folder: Path, z: int, work: Path) -> tuple[ss.Pair, dict]:
    """The template slice and its 3-class mask, written by `nifti_slices` and read back as a user's pair."""
    import nibabel as nib

    paths = {name: folder / file for name, file in MNI_FILES.items()}
    gm, wm = (np.asarray(nib.load(paths[k]).dataobj, dtype=np.float32) / 255.0 for k in ("gm", "wm"))
    labels = np.zeros(gm.shape, np.uint8)
    labels[(gm >= 0.5) & (gm >= wm)] = 1
    labels[(wm >= 0.5) & (wm > gm)] = 2
    t1 = nib.load(paths["t1"])
    nib.save(nib.Nifti1Image(labels, t1.affine), work / "labels.nii.gz")
    slices = ss.nifti_slices(paths["t1"], work / "labels.nii.gz", work / "slices", slices=[z])
    image = next((slices / "images").iterdir())
    pair = ss.load_pair(image, slices / "masks" / image.name, classes=ss.parse_classes(MRI_CLASSES))
    source = {"files": {k: {"name": p.name, "sha256": sha256_file(p)} for k, p in paths.items()},
              "slice": z, "window": json.loads((slices / "volume.json").read_text()).get("window")}
    return pair, source


def real_at(pair: ss.Pair, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The real image (bilinear, at its bit depth) and mask (nearest) at the samples' (H, W)."""
    h, w = shape
    channels = [np.asarray(Image.fromarray(pair.image[..., c]).resize((w, h), Image.BILINEAR))
                for c in range(pair.image.shape[2])]
    mask = np.asarray(Image.fromarray(pair.mask.astype(np.uint8)).resize((w, h), Image.NEAREST))
    return np.stack(channels, axis=2).astype(pair.image.dtype), mask


def score(samples: ss.Samples, pair: ss.Pair, extractor) -> dict:
    real, real_mask = real_at(pair, samples.images.shape[1:3])
    memo = [memorisation(s, real, stride=3) for s in samples.images]
    return {"size": list(samples.images.shape[1:3]),
            "sifid": float(np.mean([sifid_pair(real, s, extractor) for s in samples.images])),
            "diversity": diversity(samples.images, real),
            "mask": mask_fit(samples.masks, real_mask, modality=pair.modality),
            "real_class_fractions": pair.class_fractions(),
            "copied_patches": float(np.mean([m.copied_patch_fraction for m in memo]))}


def run_case(name: str, pair: ss.Pair, args: argparse.Namespace, extractor) -> dict:
    rows = {}
    started = time.perf_counter()
    model = ss.train(pair, config=ss.get_preset(args.preset), device="cpu", progress=False)
    trained = time.perf_counter() - started
    started = time.perf_counter()
    samples = ss.sample(model, num=args.num, seed=args.seed)
    rows["singan-" + args.preset] = {"train_seconds": trained, "seconds_per_sample":
                                     (time.perf_counter() - started) / args.num, **score(samples, pair, extractor)}
    started = time.perf_counter()
    patch = ss.generate_patchnn(pair, num=args.num, seed=args.seed, device="cpu")
    rows["patchnn"] = {"train_seconds": 0.0, "seconds_per_sample": (time.perf_counter() - started) / args.num,
                       **score(patch, pair, extractor)}
    for method, row in rows.items():
        classes = row["mask"].get("classes", {})
        per_class = "  ".join(f"{k}: comp {v['components']:.2f} (real {v['real_components']}), empty "
                              f"{v['empty_fraction']:.2f}" for k, v in classes.items())
        print(f"{name:8s} {method:12s} train {row['train_seconds']:7.1f} s  SIFID {row['sifid']:.3f}  diversity "
              f"{row['diversity']:.3f}  copied {row['copied_patches']:.2f}  {per_class}", flush=True)
    if args.sheet and name == "phantom":
        path = REPO / "docs" / "images" / "multiclass_phantom.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_contact_sheet(path, pair.image, pair.mask, list(samples.images[:6]), list(samples.masks[:6]),
                           modality=pair.modality)
    return {"modality": pair.modality.to_dict(), "describe": pair.modality.describe(), "methods": rows}


def main(args: argparse.Namespace) -> int:
    torch.set_num_threads(args.threads)
    extractor = get_extractor(device="cpu")
    result = {"provenance": provenance(), "settings": portable(vars(args)),
              "machine": machine_info(torch.device("cpu")), "threads": torch.get_num_threads(), "cases": {}}
    phantom = ss.make_labelled_phantom(height=round(args.phantom_size * 0.8), width=args.phantom_size, seed=1)
    result["cases"]["phantom"] = run_case("phantom", phantom, args, extractor)
    if args.mni is not None:
        with tempfile.TemporaryDirectory() as work:
            pair, source = mri_pair(args.mni, args.slice, Path(work))
            result["cases"]["mri"] = run_case("mri", pair, args, extractor) | {"source": source}
    write_json_atomic(args.out, result)
    print(f"wrote {portable(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
