"""One self-contained HTML report (every picture base64-embedded, no external files) plus a JSON of all numbers.

Any modality: pictures show `image_preview_rgb` (16 bits scaled to 8, gray as gray, the first three channels of
multi-channel images); multi-class masks are drawn in their class colours (outlines and masks, with a legend),
and the mask section adds per-class histograms and mean masks."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from ..data.modality import Modality, image_preview_rgb  # noqa: E402
from ..errors import InputError  # noqa: E402
from ..files import atomic_path  # noqa: E402
from ..preview import contact_sheet  # noqa: E402
from .image_sets import ImageSet  # noqa: E402
from .inception import CHANNELS_RULE  # noqa: E402
from .masks import BIN_EDGES, MaskStats  # noqa: E402
from .suite import Evaluation  # noqa: E402

MAX_GRID = 9
THUMB = 160  # px, height of the pictures in the grids
# a class colour's box in legends
SWATCH = "display:inline-block;width:12px;height:12px;border:1px solid #666;margin:0 4px 0 8px"


def _img_tag(array: np.ndarray, alt: str) -> str:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _fig_tag(fig, alt: str) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def _thumb(image: np.ndarray, mask: np.ndarray | None, modality: Modality) -> tuple[np.ndarray, np.ndarray]:
    """An 8-bit RGB view of the image and its mask (bool or class indices), THUMB px high."""
    h, w = image.shape[:2]
    size = (max(1, round(w * THUMB / h)), THUMB)
    mask = np.zeros((h, w), bool if modality.is_binary else np.uint8) if mask is None else mask
    return (np.asarray(Image.fromarray(image_preview_rgb(image, modality)).resize(size, Image.BILINEAR)),
            np.asarray(Image.fromarray(mask).resize(size, Image.NEAREST)))


def class_legend(modality: Modality) -> str:
    """HTML swatches naming each class's colour (empty for binary masks)."""
    if modality.is_binary:
        return ""
    swatches = "".join(f"<span style='{SWATCH};background:#{r:02x}{g:02x}{b:02x}'></span>{html.escape(name)} "
                       for name, (r, g, b) in zip(modality.class_names, modality.class_colors))
    return f"<p class='legend'>Classes: {swatches}</p>"


def _sheet(images: ImageSet, count: int) -> np.ndarray:
    cells = [_thumb(images.image(i), images.mask(i), images.modality) for i in range(count)]
    labels = [stem[:22] for stem in images.stems[:count]]
    # the thumbnails are 8-bit RGB views already; the masks keep their classes
    return contact_sheet([c[0] for c in cells], [c[1] for c in cells], labels,
                         modality=images.modality.with_image(3, 8))


def _samples_section(ev: Evaluation) -> str:
    shown = min(MAX_GRID, len(ev.samples))
    sheet, real_sheet = _sheet(ev.samples, shown), _sheet(ev.real, min(MAX_GRID, len(ev.real)))
    modality = ev.samples.modality
    drawn = "mask outline in green, mask below" if modality.is_binary else "class outlines and masks in class colours"
    kind = "" if modality.is_default else f" ({html.escape(modality.describe())})"
    return (f"<h2>Samples</h2><p>{len(ev.samples)} synthetic pairs{kind} (first {shown} shown, {drawn}).</p>"
            f"{class_legend(modality)}{_img_tag(sheet, 'synthetic samples')}<h3>Real</h3>"
            f"{_img_tag(real_sheet, 'real pairs')}")


def _metrics_section(ev: Evaluation) -> str:
    rows = []
    if ev.sifid:
        s = ev.sifid
        rows.append(f"<tr><td>SIFID ({s.channels} ch, native resolution)</td><td>{s.mean:.4f} ± {s.sd:.4f}</td>"
                    f"<td>{len(s.values)} samples vs their source</td></tr>")
    if ev.fid:
        rows.append(f"<tr><td>FID (2048-d pool, 299 px)</td><td>{ev.fid.value:.2f}</td>"
                    f"<td>{ev.fid.n_a} real vs {ev.fid.n_b} synthetic</td></tr>")
    weights = ev.sifid.weights if ev.sifid else ""
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in ev.notes)
    modality = ev.samples.modality
    rule = "" if modality.channels == 3 and modality.bit_depth == 8 and ev.real.modality.bit_depth == 8 else \
        f"<p>Images are {html.escape(modality.describe())}; the network's input: {html.escape(CHANNELS_RULE)}.</p>"
    return (f"<h2>SIFID / FID</h2><table><tr><th>metric</th><th>value</th><th>set</th></tr>{''.join(rows)}</table>"
            f"<p>Weights: {html.escape(weights)}.</p>{rule}<ul class='notes'>{notes}</ul>")


def _masks_section(ev: Evaluation) -> str:
    if ev.masks is None:
        return "<h2>Masks</h2><p>Not computed (no real masks).</p>"
    m = ev.masks
    fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
    for ax, pct, title in ((axes[0], m.real_pct, "real"), (axes[1], m.synthetic_pct, "synthetic")):
        ax.hist(pct, bins=BIN_EDGES, weights=np.full(len(pct), 100 / len(pct)), color="tab:blue", edgecolor="k")
        ax.set(title=f"{title} (n={len(pct)})", xlabel="true pixels (%)", ylabel="% of masks", xlim=(0, 100))
    hist = _fig_tag(fig, "mask size histograms")
    fig, axes = plt.subplots(1, 4, figsize=(12, 3))
    for ax, image, title in zip(axes, (m.real_mean, m.real_sd, m.synthetic_mean, m.synthetic_sd),
                                ("real mean", "real sd", "synthetic mean", "synthetic sd")):
        ax.imshow(image, cmap="gray", vmin=0, vmax=1 if "mean" in title else 0.5)
        ax.set(title=title, xticks=[], yticks=[])
    means = _fig_tag(fig, "mean and sd masks")
    what = "True-pixel" if m.classes is None else "Foreground (every non-background class together)"
    return (f"<h2>Masks</h2><p>{what} percentage in 5 % bins. Wasserstein distance {m.wasserstein_pct:.2f} "
            f"percentage points; histogram total variation {m.hist_total_variation:.3f}.</p>{hist}"
            f"<h3>Mean and standard-deviation masks</h3>{means}{_classes_section(m, ev.samples.modality)}")


def _classes_section(m: MaskStats, modality: Modality) -> str:
    """Per-class area histograms (real | synthetic, in class colours) and mean masks of a multi-class set."""
    if m.classes is None:
        return ""
    names = list(m.classes)
    colors = {name: np.asarray(color) / 255 for name, color in zip(modality.class_names, modality.class_colors)}
    fig, axes = plt.subplots(len(names), 2, figsize=(10, 2.6 * len(names)), sharey=True, squeeze=False)
    for row, name in zip(axes, names):
        stats = m.classes[name]
        for ax, pct, title in ((row[0], stats.real_pct, "real"), (row[1], stats.synthetic_pct, "synthetic")):
            ax.hist(pct, bins=BIN_EDGES, weights=np.full(len(pct), 100 / len(pct)), color=colors[name],
                    edgecolor="k")
            ax.set(title=f"{name}: {title} (n={len(pct)})", xlabel="class pixels (%)", ylabel="% of masks",
                   xlim=(0, 100))
    fig.tight_layout()
    hist = _fig_tag(fig, "per-class area histograms")
    fig, axes = plt.subplots(len(names), 2, figsize=(6, 3 * len(names)), squeeze=False)
    for row, name in zip(axes, names):
        for ax, image, title in ((row[0], m.classes[name].real_mean, "real"),
                                 (row[1], m.classes[name].synthetic_mean, "synthetic")):
            ax.imshow(image, cmap="gray", vmin=0, vmax=1)
            ax.set(title=f"{name}: {title} mean", xticks=[], yticks=[])
    means = _fig_tag(fig, "per-class mean masks")
    rows = "".join(f"<tr><td>{html.escape(name)}</td><td>{s.real_pct.mean():.2f}</td>"
                   f"<td>{s.synthetic_pct.mean():.2f}</td><td>{s.wasserstein_pct:.2f}</td>"
                   f"<td>{s.hist_total_variation:.3f}</td></tr>" for name, s in m.classes.items())
    return (f"<h3>Per class</h3>{class_legend(modality)}<table><tr><th>class</th><th>real mean %</th>"
            f"<th>synthetic mean %</th><th>Wasserstein (pct points)</th><th>histogram TV</th></tr>{rows}</table>"
            f"{hist}<h3>Mean mask per class</h3>{means}")


def _privacy_section(ev: Evaluation) -> str:
    if ev.privacy is None:
        return "<h2>Privacy</h2><p>Not computed (pass held-out real images).</p>"
    p = ev.privacy
    fig, ax = plt.subplots(figsize=(6, 3))
    bins = np.linspace(0, max(p.distances[:, 0].max(), p.heldout_distances.max()) * 1.05, 25)
    ax.hist(p.heldout_distances, bins=bins, alpha=0.6, label="held-out real → train")
    ax.hist(p.distances[:, 0], bins=bins, alpha=0.6, label="synthetic → train")
    ax.set(xlabel="nearest Inception-feature distance", ylabel="images")
    ax.legend()
    dist = _fig_tag(fig, "nearest distance distributions")
    pairs = []
    for i in p.closest(6):
        j = int(p.neighbours[i, 0])
        a, _ = _thumb(ev.samples.image(i), None, ev.samples.modality)
        b, _ = _thumb(ev.train_real.image(j), None, ev.train_real.modality)
        pairs.append(f"<figure>{_img_tag(np.concatenate([a, np.full((THUMB, 4, 3), 255, np.uint8), b], 1), 'pair')}"
                     f"<figcaption>{html.escape(p.synthetic_stems[i])} ↔ {html.escape(p.train_stems[j])}: "
                     f"d={p.distances[i, 0]:.2f}, SSIM={p.ssim[i, 0]:.3f}</figcaption></figure>")
    return (f"<h2>Privacy</h2><p>Memorisation score {p.memorisation:.3f} (fraction of synthetic images closer to a "
            f"training image than any held-out real image is); membership-inference AUC {p.auc:.3f} (0.5 = "
            f"synthetic images are no closer to training images than unseen real ones).</p>{dist}"
            f"<h3>Closest pairs (synthetic | nearest training image)</h3>{''.join(pairs)}")


STYLE = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:1em}img{max-width:100%}"
         "table{border-collapse:collapse}td,th{border:1px solid #999;padding:4px 8px}"
         "figure{display:inline-block;margin:4px}figcaption{font-size:12px}.notes{color:#a60}")


REPORT_TITLE = "<title>singan-seg evaluation</title>"
REPORT_SUFFIXES = (".html", ".htm")


def _is_report_json(path: Path) -> bool:
    try:
        numbers = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(numbers, dict) and {"samples", "real", "n_samples"} <= numbers.keys()


def check_report_out(out: str | Path) -> tuple[Path, Path]:
    """(HTML, JSON) paths a report at `out` writes; InputError for a folder, a name that is not .html, or an
    existing file that is not an earlier report (a rerun replaces its own report, never anything else)."""
    out = Path(out)
    json_path = out.with_suffix(".json")
    if out.is_dir():
        raise InputError(f"is a directory; --out takes the HTML file to write, e.g. {out / 'report.html'}", out)
    if out.suffix.lower() not in REPORT_SUFFIXES:
        raise InputError("the report is an HTML file: give --out a name ending in .html (the numbers are written "
                         "beside it, with .json)", out)
    for parent in out.parents:
        if parent.exists() and not parent.is_dir():
            raise InputError("is a file, so the report cannot be written inside it", parent)
    if json_path.is_dir():
        raise InputError("is a directory; the report's numbers are written to this name (choose another --out)",
                         json_path)
    if out.exists():
        try:
            with open(out, "rb") as handle:
                head = handle.read(4096)
        except OSError as exc:
            raise InputError(f"cannot read the existing file ({exc.strerror or exc})", out) from None
        if REPORT_TITLE.encode() not in head:
            raise InputError("exists and is not a singan-seg report; refusing to overwrite it (choose another --out)",
                             out)
    if json_path.exists() and not _is_report_json(json_path):
        raise InputError("exists and is not a singan-seg report's numbers; refusing to overwrite it (choose "
                         "another --out)", json_path)
    return out, json_path


def write_report(ev: Evaluation, out: str | Path) -> tuple[Path, Path]:
    """Write OUT (HTML) and OUT with .json (all numbers), atomically; return both paths.

    OUT must end in .html and may only replace an earlier report (see `check_report_out`).
    """
    out, json_path = check_report_out(out)
    numbers = ev.to_dict()
    body = "".join(section(ev) for section in (_samples_section, _metrics_section, _masks_section, _privacy_section))
    page = (f"<!DOCTYPE html><html><head><meta charset='utf-8'>{REPORT_TITLE}"
            f"<style>{STYLE}</style></head><body><h1>singan-seg evaluation</h1><p>Samples: "
            f"{html.escape(str(ev.samples.root))}; real: {html.escape(str(ev.real.root))}</p>{body}"
            f"<h2>All numbers</h2><pre>{html.escape(json.dumps(numbers, indent=1)[:20000])}</pre></body></html>")
    # both files are written in full beside their targets first, then renamed: never one new and one old
    with atomic_path(json_path) as json_tmp, atomic_path(out) as html_tmp:
        json_tmp.write_text(json.dumps(numbers, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        html_tmp.write_text(page, encoding="utf-8")
    return out, json_path
