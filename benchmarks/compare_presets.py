"""Sample quality and cost per method: training-free `patchnn` vs SinGAN-Seg presets, one table, one run.

For the first --pairs Kvasir-SEG ids (folds.csv, sorted), every method draws --num samples per real pair and
is scored against that pair, resized to the samples' size (`singan_seg.evaluate`):
- time: training seconds per image (0 for patchnn), seconds per sample, and train + num samples per image;
- SIFID of each sample vs its real image (192 channels; TF FID Inception weights, see evaluate/__init__);
- diversity (SinGAN's: per-pixel std over samples / real std) and mean pairwise L1 between samples;
- mask fit: connected components and holes per sample mask (real mask in brackets), speckle share, empty masks;
- memorisation: share of sample patches with a near-identical real patch, and the largest area copied verbatim
  at one offset (mean and max over samples) - copying is the patch method's known weakness.
SinGAN-Seg presets are either trained here (--presets, e.g. `--presets tiny` for a smoke run, or
`--presets fast --max-size 128`), trained here as variants of a preset (`--variant lazy=fast:gp_every=4`)
or read from --models-root NAME=DIR (repeat it to score several), a finished `build-dataset` output
(pairs/<id>/model/) or a folder of <id>/ model dirs, using the training seconds recorded in their config.json;
pairs without a finished model there are skipped (the table's `pairs` column says how many were scored).
--reuse-rows FILE fills such gaps from an earlier result scored the same way (same --num, --seed and
--memo-stride; checked), e.g. a paper model that took 4 h to train and was not kept; those rows say `reused_from`.
The speed against `paper` uses paper's PROJECTED time per image from benchmarks/results/train_speed.json, or the
train_speed.py result named by --paper-speed (time it on the same host: measured ms/iteration x its iteration
counts; a full paper run is ~12 h per image here), when the sizes match.

    PYTHONPATH=src python benchmarks/compare_presets.py --pairs 5 --presets tiny
    PYTHONPATH=src python benchmarks/compare_presets.py --models-root fast=runs/fast --models-root paper=runs/paper

Writes benchmarks/results/compare_presets.json (commit and version, settings with repository-relative paths,
machine info, torch version and threads, per-pair figures). Nothing derived from Kvasir is written besides numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import singan_seg as ss
from singan_seg.device import machine_info, resolve_device
from singan_seg.engines.patchnn import PatchNNConfig, generate_patchnn
from singan_seg.evaluate import diversity, get_extractor, mask_fit, mean_pairwise_l1, memorisation, sifid_pair
from singan_seg.files import write_json_atomic
from provenance import portable, provenance

REPO = Path(__file__).resolve().parents[1]
KVASIR = REPO.parent / "shared" / "data" / "kvasir-seg"
SPEED = REPO / "benchmarks" / "results" / "train_speed.json"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=KVASIR)
    parser.add_argument("--pairs", type=int, default=5, help="first N ids of folds.csv, sorted")
    parser.add_argument("--num", type=int, default=10, help="samples per real pair (the paper: 10)")
    parser.add_argument("--presets", nargs="*", default=[], help="SinGAN-Seg presets to train here")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=PRESET:KEY=VALUE,...",
                        help="a preset with settings changed, trained here, e.g. lazy=fast:gp_every=4,d_steps=1")
    parser.add_argument("--max-size", type=int, default=None, help="finest size for presets trained here")
    parser.add_argument("--iters", type=int, default=None, help="iterations per scale for presets trained here")
    parser.add_argument("--models-root", action="append", default=[], metavar="[NAME=]DIR",
                        help="already-trained models (see above); repeat for several")
    parser.add_argument("--models-name", default="models-root", help="label of a --models-root given without NAME=")
    parser.add_argument("--reuse-rows", action="append", type=Path, default=[], metavar="FILE",
                        help="an earlier result whose rows fill pairs with no model here (see above)")
    parser.add_argument("--patchnn-max-size", type=int, default=250, help="patchnn output size (0 = skip patchnn)")
    parser.add_argument("--memo-stride", type=int, default=4, help="stride of the sample patches searched")
    parser.add_argument("--start-scales", type=int, nargs="+", default=[0],
                        help="sample each SinGAN-Seg model from these start scales (rows NAME@sK for K > 0)")
    parser.add_argument("--variations", type=float, nargs="+", default=[1.0],
                        help="and at start scale 0 with these variations (rows NAME@vV for V < 1; see ss.sample)")
    parser.add_argument("--paper-speed", type=Path, default=SPEED,
                        help="train_speed.py result with paper's projection (time it on the same host)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "compare_presets.json")
    return parser.parse_args()


def first_ids(data: Path, n: int) -> list[str]:
    with open(data / "folds.csv", newline="") as handle:
        return sorted(row["id"] for row in csv.DictReader(handle))[:n]


def find_model(root: Path, ident: str) -> Path | None:
    """The finished model of `ident` under root, or None (not trained, or still training)."""
    for candidate in (root / "pairs" / ident / "model", root / ident / "model", root / ident):
        if (candidate / "config.json").is_file():
            return candidate if json.loads((candidate / "config.json").read_text()).get("complete") else None
    return None


def models_roots(specs: list[str], default_name: str) -> dict[str, Path]:
    """--models-root values (NAME=DIR, or DIR labelled --models-name) by row name."""
    roots: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        name, path = (name, path) if sep else (default_name, spec)
        if name in roots:
            raise SystemExit(f"--models-root: the name {name!r} is given twice; use NAME=DIR")
        if not Path(path).is_dir():
            raise SystemExit(f"--models-root {spec}: {path} is not a directory")
        roots[name] = Path(path)
    return roots


def reusable(files: list[Path], args: argparse.Namespace) -> dict[str, dict]:
    """The --reuse-rows results by file name, checked up front: rows scored differently are not comparable."""
    earlier = {}
    for path in files:
        result = json.loads(path.read_text())
        for key in ("num", "seed", "memo_stride"):
            if result["settings"].get(key) != getattr(args, key):
                raise SystemExit(f"--reuse-rows {path}: scored with {key}={result['settings'].get(key)}, this run "
                                 f"with {getattr(args, key)}; its rows are not comparable")
        earlier[path.name] = result
    return earlier


def reuse_rows(per_pair: dict[str, list[dict]], earlier: dict[str, dict], ids: list[str], names: set[str]) -> None:
    """Add the earlier results' rows of this run's methods for the pairs this run did not score."""
    for file_name, result in earlier.items():
        for name, rows in result["per_pair"].items():
            if name.partition("@")[0] not in names:
                continue
            have = {row["id"] for row in per_pair.get(name, [])}
            extra = [{**row, "reused_from": file_name} for row in rows if row["id"] in ids and row["id"] not in have]
            if extra:
                print(f"{name}: {len(extra)} row(s) reused from {file_name}")
                per_pair[name] = sorted(per_pair.get(name, []) + extra, key=lambda row: ids.index(row["id"]))


def real_at(pair: ss.Pair, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The real image (LANCZOS) and mask (nearest) at the samples' (H, W)."""
    h, w = shape
    image = np.asarray(Image.fromarray(pair.image).resize((w, h), Image.LANCZOS))
    mask = np.asarray(Image.fromarray(pair.mask).resize((w, h), Image.NEAREST))
    return image, mask


def score(samples: ss.Samples, pair: ss.Pair, extractor, memo_stride: int) -> dict:
    real, real_mask = real_at(pair, samples.images.shape[1:3])
    memo = [memorisation(s, real, stride=memo_stride) for s in samples.images]
    return {"size": list(samples.images.shape[1:3]),
            "sifid": float(np.mean([sifid_pair(real, s, extractor) for s in samples.images])),
            "diversity": diversity(samples.images, real), "pairwise_l1": mean_pairwise_l1(samples.images),
            "mask": mask_fit(samples.masks, real_mask),
            "copied_patches": float(np.mean([m.copied_patch_fraction for m in memo])),
            "largest_copy_mean": float(np.mean([m.largest_copy_fraction for m in memo])),
            "largest_copy_max": float(np.max([m.largest_copy_fraction for m in memo]))}


def run_patchnn(pair, args, device):
    config = PatchNNConfig(max_size=args.patchnn_max_size)
    started, cpu = time.perf_counter(), time.process_time()
    samples = generate_patchnn(pair, num=args.num, seed=args.seed, config=config, device=str(device))
    return samples, 0.0, (time.perf_counter() - started) / args.num, (time.process_time() - cpu) / args.num


def run_singan(pair, model_or_config, args, device):
    """The trained model (trained here or loaded), its training seconds and, for a loaded one, how it was trained
    (settings, package version, machine and threads, from its config.json)."""
    if isinstance(model_or_config, Path):  # already trained: its own recorded training time
        meta = json.loads((model_or_config / "config.json").read_text())
        trained = {"config": meta["config"], "package_version": meta.get("package_version"),
                   "machine": meta["training"].get("machine")}
        return ss.load(model_or_config, device=str(device)), float(meta["training"]["seconds"]), trained
    started = time.perf_counter()
    model = ss.train(pair, config=model_or_config, device=str(device), progress=False)
    return model, time.perf_counter() - started, None


def sample_timed(model, start_scale, variation, args):
    started, cpu = time.perf_counter(), time.process_time()
    samples = ss.sample(model, num=args.num, seed=args.seed, start_scale=start_scale, variation=variation)
    return samples, (time.perf_counter() - started) / args.num, (time.process_time() - cpu) / args.num


def summarise(rows: list[dict], num: int) -> dict:
    mean = lambda key: float(np.mean([r[key] for r in rows]))  # noqa: E731
    keys = {k for r in rows for k in r["mask"]}  # rows reused from older results may lack newer figures
    masks = {k: float(np.mean([r["mask"][k] for r in rows if k in r["mask"]])) for k in sorted(keys)}
    return {"pairs": len(rows), "size": rows[0]["size"], "train_seconds": mean("train_seconds"),
            "seconds_per_sample": mean("seconds_per_sample"),
            "cpu_seconds_per_sample": mean("cpu_seconds_per_sample"),
            "seconds_per_image": mean("train_seconds") + num * mean("seconds_per_sample"),
            "sifid": mean("sifid"), "diversity": mean("diversity"), "pairwise_l1": mean("pairwise_l1"),
            "mask": masks, "copied_patches": mean("copied_patches"), "largest_copy_mean": mean("largest_copy_mean"),
            "largest_copy_max": float(np.max([r["largest_copy_max"] for r in rows]))}


def paper_projection(speed_file: Path) -> tuple[float | None, int | None, str]:
    """Paper's projected seconds per image and the size it was timed at, from a train_speed.py result."""
    if not speed_file.is_file():
        return None, None, f"no {speed_file.name}"
    timed = json.loads(speed_file.read_text())
    paper = timed.get("presets", {}).get("paper", {})
    seconds, size = paper.get("projected_seconds"), paper.get("config", {}).get("max_size")
    if seconds is None:
        return None, None, f"paper not timed in {speed_file.name}"
    threads = timed.get("machine", {}).get("threads")
    here = torch.get_num_threads()
    caveat = "" if threads == here else f"; this run's times use {here} thread(s), so the ratio is not like for like"
    return float(seconds), size, (f"paper {seconds / 3600:.1f} h/image at {size} px, projected from measured "
                                  f"ms/iteration in {speed_file.name}, {threads} threads{caveat}")


def print_table(summary: dict, paper: tuple[float | None, int | None, str], num: int) -> None:
    paper_seconds, paper_size, note = paper
    print(f"{'method':<14}{'pairs':>6}{'px':>8}{'train s':>9}{'s/sample':>9}{'cpu s':>7}{'s/image':>9}"
          f"{'vs paper':>10}{'SIFID':>9}"
          f"{'divers':>7}{'L1':>6}{'comp (real)':>12}{'holes (r)':>10}{'speck':>6}{'empty':>6}{'copied':>7}"
          f"{'largest':>12}")
    for name, s in summary.items():
        m = s["mask"]
        same_size = paper_seconds and max(s["size"]) == paper_size
        ratio = f"{paper_seconds / s['seconds_per_image']:.0f}x" if same_size else "-"
        size = "x".join(map(str, s["size"][::-1]))
        comp = f"{m['components']:.1f} ({m['real_components']:.1f})"
        holes = f"{m['holes']:.1f} ({m['real_holes']:.1f})"
        largest = f"{s['largest_copy_mean']:.2f}/{s['largest_copy_max']:.2f}"
        print(f"{name:<14}{s['pairs']:>6}{size:>8}{s['train_seconds']:>9.1f}{s['seconds_per_sample']:>9.2f}"
              f"{s['cpu_seconds_per_sample']:>7.2f}"
              f"{s['seconds_per_image']:>9.1f}{ratio:>10}{s['sifid']:>9.3f}{s['diversity']:>7.2f}"
              f"{s['pairwise_l1']:>6.3f}{comp:>12}{holes:>10}{m['speckle_fraction']:>6.2f}"
              f"{m.get('empty_fraction', float('nan')):>6.2f}{s['copied_patches']:>7.2f}{largest:>12}")
    print(f"vs paper: PROJECTED ({note}); only for methods at that size. s/image = train + {num} samples "
          "(wall clock); cpu s: CPU seconds per sample of this process (less sensitive to a shared core).\n"
          "copied: share of sample patches with a near-identical real patch; largest: mean/max share of a sample "
          "copied verbatim at one offset;\ncomp/holes: connected components / holes per sample mask (the real "
          "mask's in brackets); speck: share of components < 16 px; empty: share of samples with an empty mask.")


def ready(args: argparse.Namespace) -> bool:
    """Whether Kvasir-SEG is at --data (else says so); sets --threads. Shared with sweep_levers.py."""
    if not (args.data / "images").is_dir():
        print(f"Kvasir-SEG not found at {args.data}; nothing to measure", file=sys.stderr)
        return False
    if args.threads:
        torch.set_num_threads(args.threads)
    return True


def main(args: argparse.Namespace) -> int:
    if not ready(args):
        return 1
    device = resolve_device(args.device)
    ids = first_ids(args.data, args.pairs)
    methods: dict[str, object] = {}
    if args.patchnn_max_size:
        methods["patchnn"] = "patchnn"
    for name in args.presets:
        methods[name] = ss.get_preset(name, max_size=args.max_size, iters_per_scale=args.iters, seed=args.seed)
    for text in args.variant:
        name, _, spec = text.partition("=")
        methods[name] = ss.config_from_spec(spec, max_size=args.max_size, iters_per_scale=args.iters,
                                            seed=args.seed)
    methods.update(models_roots(args.models_root, args.models_name))
    earlier = reusable(args.reuse_rows, args)
    extractor = get_extractor(None, str(device))
    per_pair: dict[str, list[dict]] = {}
    loaded: dict[str, dict[str, dict]] = {}  # how each model read from --models-root was trained, by id
    started = time.time()
    for k, ident in enumerate(ids):
        pair = ss.load_pair(args.data / "images" / f"{ident}.jpg", args.data / "masks" / f"{ident}.jpg")
        for name, how in methods.items():
            if how == "patchnn":
                runs = [(name, *run_patchnn(pair, args, device))]
            else:
                target = find_model(how, ident) if isinstance(how, Path) else how
                if target is None:
                    print(f"pair {k + 1}/{len(ids)} {ident} {name}: no finished model under {how}, skipped")
                    continue
                model, train_s, trained = run_singan(pair, target, args, device)
                if trained is not None:
                    loaded.setdefault(name, {})[ident] = trained
                ways = [(start, 1.0, f"{name}@s{start}" if start else name) for start in args.start_scales]
                ways += [(0, v, f"{name}@v{v:g}") for v in args.variations if v != 1.0]
                runs = []
                for start, variation, label in ways:
                    samples, per_sample, cpu_per_sample = sample_timed(model, start, variation, args)
                    runs.append((label, samples, train_s, per_sample, cpu_per_sample))
            for row_name, samples, train_s, per_sample, cpu_per_sample in runs:
                row = {"id": ident, "train_seconds": train_s, "seconds_per_sample": per_sample,
                       "cpu_seconds_per_sample": cpu_per_sample,
                       **score(samples, pair, extractor, args.memo_stride)}
                per_pair.setdefault(row_name, []).append(row)
                print(f"pair {k + 1}/{len(ids)} {ident} {row_name}: train {train_s:.1f} s, {per_sample:.2f} "
                      f"s/sample, SIFID {row['sifid']:.3f}, largest copy {row['largest_copy_max']:.2f}", flush=True)
    reuse_rows(per_pair, earlier, ids, set(methods))
    summary = {name: summarise(rows, args.num) for name, rows in per_pair.items() if rows}
    configs = {name: how.to_dict() for name, how in methods.items() if isinstance(how, ss.TrainConfig)}
    paper = paper_projection(args.paper_speed)
    print()
    print_table(summary, paper, args.num)
    write_json_atomic(args.out, {
        "provenance": provenance(), "settings": json.loads(json.dumps(portable(vars(args)), default=str)),
        "ids": ids,
        "machine": machine_info(device), "torch": torch.__version__, "threads": torch.get_num_threads(),
        "paper_projected_seconds_per_image": paper[0], "paper_timed_at_px": paper[1], "paper_note": paper[2],
        "configs": configs, "models_root_training": loaded, "summary": summary, "per_pair": per_pair,
        "seconds": round(time.time() - started, 1)})
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
