"""Contact sheets: the real pair beside samples, each image with its mask outline, masks underneath.

Any modality is shown as 8-bit RGB (`data.modality.image_preview_rgb`: 16 bits scaled, gray replicated); a
multi-class mask is outlined and filled in its classes' colours."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy.ndimage import binary_erosion

from .data.modality import RGB_BINARY, Modality, image_preview_rgb, mask_preview_rgb
from .data.samples_dir import save_png

OUTLINE_RGB = (0, 255, 0)


def outline(image: np.ndarray, mask: np.ndarray, color: tuple[int, int, int] = OUTLINE_RGB) -> np.ndarray:
    """The image with the mask's boundary drawn in `color` (1 px)."""
    edge = mask & ~binary_erosion(mask, iterations=1, border_value=0)
    out = image.copy()
    out[edge] = color
    return out


def outline_classes(image: np.ndarray, mask: np.ndarray, modality: Modality) -> np.ndarray:
    """The image with each class's boundary in the class's colour (binary masks: green, as `outline`)."""
    if modality.is_binary:
        return outline(image, mask)
    out = image.copy()
    colors = modality.class_colors
    for k in range(1, modality.num_classes):
        out = outline(out, mask == k, tuple(colors[k]) if any(colors[k]) else OUTLINE_RGB)
    return out


def contact_sheet(images: list[np.ndarray], masks: list[np.ndarray], labels: list[str] | None = None,
                  max_columns: int = 9, pad: int = 4, modality: Modality = RGB_BINARY) -> np.ndarray:
    """A grid: each column an image with its mask outline over its mask; all cells resized to the first's size."""
    images = [image_preview_rgb(image, modality) for image in images]
    height, width = images[0].shape[:2]
    labels = labels or [""] * len(images)
    label_h = 14 if any(labels) else 0
    columns = min(max_columns, len(images))
    rows = -(-len(images) // columns)
    cell_h = 2 * height + label_h + pad
    sheet = Image.new("RGB", (columns * (width + pad) + pad, rows * cell_h + pad), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (image, mask, label) in enumerate(zip(images, masks, labels)):
        if image.shape[:2] != (height, width):
            image = np.asarray(Image.fromarray(image).resize((width, height), Image.BILINEAR))
            mask = np.asarray(Image.fromarray(mask).resize((width, height), Image.NEAREST))
        x = pad + (i % columns) * (width + pad)
        y = pad + (i // columns) * cell_h
        draw.text((x, y), label, fill=(0, 0, 0))
        sheet.paste(Image.fromarray(outline_classes(image, mask, modality)), (x, y + label_h))
        sheet.paste(Image.fromarray(mask_preview_rgb(mask, modality)), (x, y + label_h + height))
    return np.asarray(sheet)


def save_contact_sheet(path: str | Path, real_image: np.ndarray, real_mask: np.ndarray, images, masks,
                       modality: Modality = RGB_BINARY) -> Path:
    """Write real pair + samples as one PNG (atomically)."""
    labels = ["real"] + [f"sample {i}" for i in range(len(images))]
    sheet = contact_sheet([real_image, *images], [real_mask, *masks], labels, modality=modality)
    save_png(Path(path), sheet)
    return Path(path)
