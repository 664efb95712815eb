"""What a pair holds: how many image channels at which bit depth, and which classes its mask has.

The default, `RGB_BINARY`, is what the package always did: 3 channels at 8 bits and a binary mask (gray >= 128 is
the object; written back as 0/255). Any other modality is declared or read from the files:

- images with C channels (1 = grayscale, 3 = RGB, any other count for multi-channel data) at 8 or 16 bits, kept
  at their bit depth end to end: a 16-bit PNG in gives 16-bit PNGs out;
- masks with K classes, either as *label values* (a label PNG holding 0, 1, 2, ... or any declared values) or as
  *colours* (a colour-coded mask with one RGB colour per class). The first class is the background.

Generators train on C + K - 1 channels: the image scaled from 0..max to [-1, 1], then one +-1 channel per
non-background class. A pixel decodes to the background where every class channel is <= 0, else to the class
whose channel is largest; for a binary mask that is "channel > 0", the rule the package always used.

On disk: images with 1 channel, or 3 channels at 8 bits, are PNGs; any other image (16-bit RGB, 2 or 4+ channels)
is a TIFF (tifffile), since PNG cannot hold it. Masks are PNGs: 0/255 (binary), the declared label values
(8-bit, or 16-bit where a value exceeds 255), or the declared colours (RGB).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

MAX_CLASSES = 64  # a mask channel per class: beyond a few dozen a single-image GAN has nothing to learn from
MAX_CHANNELS = 16
BIT_DEPTHS = (8, 16)
# Colours for previews of label masks that declare none (class 0, the background, is black).
PREVIEW_COLORS = [(0, 0, 0), (255, 225, 25), (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48),
                  (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212), (255, 255, 255)]


@dataclass(frozen=True)
class MaskClass:
    """One class of a multi-class mask: its name and how mask files mark it (a label value or an RGB colour)."""

    name: str
    value: int | None = None
    color: tuple[int, int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.value is not None:
            out["value"] = self.value
        if self.color is not None:
            out["color"] = "#%02x%02x%02x" % self.color
        return out


@dataclass(frozen=True)
class Modality:
    """Image channels and bit depth, and the mask's classes (None: the binary mask of SinGAN-Seg)."""

    channels: int = 3
    bit_depth: int = 8
    classes: tuple[MaskClass, ...] | None = None

    def __post_init__(self):
        if not (isinstance(self.channels, int) and 1 <= self.channels <= MAX_CHANNELS):
            raise InputError(f"image channels should be 1..{MAX_CHANNELS}, got {self.channels!r}")
        if self.bit_depth not in BIT_DEPTHS:
            raise InputError(f"bit depth should be 8 or 16, got {self.bit_depth!r}")
        if self.classes is not None:
            check_classes(self.classes)

    # --- what the generators see ---
    @property
    def is_binary(self) -> bool:
        """The package's original mask: binarised at gray >= 128, written 0/255."""
        return self.classes is None

    @property
    def is_default(self) -> bool:
        return self == RGB_BINARY

    @property
    def num_classes(self) -> int:
        return 2 if self.classes is None else len(self.classes)

    @property
    def mask_channels(self) -> int:
        return self.num_classes - 1

    @property
    def tensor_channels(self) -> int:
        """C + K - 1: what every generator of this modality reads and writes."""
        return self.channels + self.mask_channels

    @property
    def image_max(self) -> int:
        return 255 if self.bit_depth == 8 else 65535

    @property
    def dtype(self) -> type:
        return np.uint8 if self.bit_depth == 8 else np.uint16

    @property
    def mask_kind(self) -> str:
        """"binary", "labels" (label values) or "colors" (a colour-coded mask)."""
        if self.classes is None:
            return "binary"
        return "colors" if self.classes[0].color is not None else "labels"

    @property
    def class_names(self) -> list[str]:
        return ["background", "object"] if self.classes is None else [c.name for c in self.classes]

    @property
    def class_colors(self) -> list[tuple[int, int, int]]:
        """An RGB colour per class, for previews and colour-coded masks."""
        if self.classes is not None and self.classes[0].color is not None:
            return [c.color for c in self.classes]  # type: ignore[misc]
        return [PREVIEW_COLORS[i % len(PREVIEW_COLORS)] for i in range(self.num_classes)]

    def with_image(self, channels: int, bit_depth: int) -> Modality:
        return Modality(channels, bit_depth, self.classes)

    def describe(self) -> str:
        kind = {1: "grayscale", 3: "RGB"}.get(self.channels, f"{self.channels}-channel")
        mask = "binary mask" if self.classes is None else \
            f"{self.num_classes}-class mask ({', '.join(self.class_names)})"
        return f"{kind} {self.bit_depth}-bit, {mask}"

    # --- saved in config.json, pack.json and samples directories ---
    def to_dict(self) -> dict[str, Any]:
        return {"channels": self.channels, "bit_depth": self.bit_depth, "mask": self.mask_kind,
                "classes": None if self.classes is None else [c.to_dict() for c in self.classes]}

    @classmethod
    def from_dict(cls, data: Any, path: str | Path | None = None) -> Modality:
        """A Modality from `to_dict`'s output (None: the default), refusing a malformed one in one line."""
        if data is None:
            return RGB_BINARY
        if not isinstance(data, dict):
            raise InputError(f"modality should be an object, got {str(data)[:60]!r}", path)
        try:
            channels, bit_depth = data.get("channels", 3), data.get("bit_depth", 8)
            if isinstance(channels, bool) or isinstance(bit_depth, bool):
                raise InputError("channels and bit_depth should be integers")
            classes = data.get("classes")
            parsed = None if classes is None else classes_from_list(classes)
            return cls(channels=channels, bit_depth=bit_depth, classes=parsed)
        except InputError as exc:
            raise InputError(f"modality: {exc.problem}", path) from None


RGB_BINARY = Modality()


# --- declaring classes -----------------------------------------------------------------------------------------

def check_classes(classes: tuple[MaskClass, ...]) -> None:
    """Refuse (one line) fewer than 2 classes, repeated names/values/colours, or a mix of values and colours."""
    if not 2 <= len(classes) <= MAX_CLASSES:
        raise InputError(f"a mask needs 2..{MAX_CLASSES} classes (the first is the background), got {len(classes)}")
    names = [c.name for c in classes]
    for name in names:
        if not name or not re.fullmatch(r"[\w .+-]+", name):
            raise InputError(f"class name {name!r} should be letters, digits, spaces or _.+-")
    if len(set(names)) != len(names):
        raise InputError(f"class names repeat: {_repeated(names)}")
    with_color = [c.color is not None for c in classes]
    if any(with_color) and not all(with_color):
        raise InputError("give every class a colour (a colour-coded mask) or none (a label mask), not some")
    if all(with_color):
        colors = [c.color for c in classes]
        if len(set(colors)) != len(colors):
            raise InputError(f"classes overlap: two classes share the colour {_hex(_repeated(colors))}; each class "
                             "needs its own colour")
        return
    values = [c.value for c in classes]
    if any(v is None or not 0 <= v <= 65535 for v in values):
        raise InputError(f"class label values should be 0..65535, got {values}")
    if len(set(values)) != len(values):
        raise InputError(f"classes overlap: two classes share the label value {_repeated(values)}")


def _repeated(items: list) -> Any:
    seen = set()
    for item in items:
        if item in seen:
            return item
        seen.add(item)
    return None


def _hex(color: Any) -> str:
    return "#%02x%02x%02x" % tuple(color) if color is not None else "?"


def _parse_color(text: str) -> tuple[int, int, int]:
    text = text.strip()
    if re.fullmatch(r"#[0-9a-fA-F]{6}", text):
        return tuple(int(text[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    parts = text.split(":") if ":" in text else None
    if parts and len(parts) == 3 and all(p.strip().isdigit() and int(p) <= 255 for p in parts):
        return tuple(int(p) for p in parts)  # type: ignore[return-value]
    raise InputError(f"colour {text!r} should be #rrggbb or r:g:b (0..255 each)")


def classes_from_list(items: Any) -> tuple[MaskClass, ...]:
    """Classes from JSON: a list of {"name", "value"} or {"name", "color": "#rrggbb" | [r, g, b]}."""
    if isinstance(items, dict) and "classes" in items:
        items = items["classes"]
    if not isinstance(items, list):
        raise InputError("classes should be a list of {\"name\": ..., \"value\": ...} or {\"name\": ..., "
                         "\"color\": \"#rrggbb\"} objects")
    classes = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise InputError(f"class {i} should be an object with a \"name\", got {str(item)[:60]!r}")
        value, color = item.get("value"), item.get("color")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InputError(f"class {item['name']!r}: value should be an integer, got {value!r}")
        if isinstance(color, list) and len(color) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in color):
            color = tuple(color)
        elif color is not None:
            color = _parse_color(str(color))
        if value is None and color is None:
            value = i
        classes.append(MaskClass(item["name"], value, color))
    classes = tuple(classes)
    check_classes(classes)
    return classes


def parse_classes(spec: str | Path) -> tuple[MaskClass, ...]:
    """Classes from a command-line spec, the first being the background:

    - "background,disc,cup": a label mask with values 0, 1, 2;
    - "background=0,tumour=128,oedema=255": a label mask with these values;
    - "background=#000000,disc=#ff0000,cup=#ffff00": a colour-coded mask (also r:g:b);
    - a .json file holding such a list (see `classes_from_list`).
    """
    text = str(spec).strip()
    if text.lower().endswith(".json"):
        path = Path(text)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("classes file not found", path) from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the classes file ({exc.__class__.__name__}: {exc})", path) from None
        try:
            return classes_from_list(data)
        except InputError as exc:
            raise InputError(exc.problem, path) from None
    items = []
    for i, part in enumerate(p.strip() for p in text.split(",")):
        name, _, mark = part.partition("=")
        name, mark = name.strip(), mark.strip()
        if not mark:
            items.append({"name": name, "value": i})
        elif mark.startswith("#") or ":" in mark:
            items.append({"name": name, "color": mark})
        elif mark.isdigit():
            items.append({"name": name, "value": int(mark)})
        else:
            raise InputError(f"class {name!r}: {mark!r} should be a label value (0..65535) or a colour (#rrggbb)")
    return classes_from_list(items)


# --- masks: file values <-> class indices ----------------------------------------------------------------------

def labels_from_values(values: np.ndarray, modality: Modality, path: str | Path | None = None) -> np.ndarray:
    """(H, W) label values -> uint8 class indices 0..K-1, refusing a value no class declares."""
    lookup = {c.value: i for i, c in enumerate(modality.classes or ())}
    return _class_indices(values, lookup, modality, path, "values", str,
                          "a resized or JPEG mask? masks must be lossless label images")


def labels_from_colors(rgb: np.ndarray, modality: Modality, path: str | Path | None = None) -> np.ndarray:
    """(H, W, 3) colour-coded mask -> uint8 class indices, refusing a colour no class declares."""
    packed = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    lookup = {(c.color[0] << 16) | (c.color[1] << 8) | c.color[2]: i  # type: ignore[index]
              for i, c in enumerate(modality.classes or ())}
    return _class_indices(packed, lookup, modality, path, "colours", lambda v: f"#{v:06x}",
                          "a JPEG or resized mask? colour-coded masks must be lossless PNGs")


def _class_indices(keys: np.ndarray, lookup: dict[int, int], modality: Modality, path: str | Path | None,
                   what: str, shown, hint: str) -> np.ndarray:
    """Map every pixel's key (a label value, or a packed colour) to its class index, refusing unknown keys in one
    line that lists up to five with their pixel counts."""
    found, counts = np.unique(keys, return_counts=True)
    unknown = [(int(v), int(n)) for v, n in zip(found, counts) if int(v) not in lookup]
    if unknown:
        listed = ", ".join(f"{shown(v)} ({n} px)" for v, n in unknown[:5])
        raise InputError(f"mask holds {what} no class declares: {listed}{' ...' if len(unknown) > 5 else ''}; the "
                         f"classes are {_declared(modality)} ({hint})", path)
    labels = np.zeros(keys.shape, np.uint8)
    for key, index in lookup.items():
        labels[keys == key] = index
    return labels


def _declared(modality: Modality) -> str:
    classes = modality.classes or ()
    marks = [f"{c.name}={_hex(c.color) if c.color is not None else c.value}" for c in classes]
    return ", ".join(marks[:8]) + (" ..." if len(marks) > 8 else "")


def mask_file_array(mask: np.ndarray, modality: Modality) -> np.ndarray:
    """What a mask file holds: 0/255 (binary), the classes' label values, or their colours (H, W, 3)."""
    if modality.classes is None:
        return np.where(mask, 255, 0).astype(np.uint8)
    if modality.mask_kind == "colors":
        return np.asarray(modality.class_colors, np.uint8)[mask]
    values = np.asarray([c.value for c in modality.classes])
    return values.astype(np.uint8 if values.max() <= 255 else np.uint16)[mask]


def mask_preview_rgb(mask: np.ndarray, modality: Modality) -> np.ndarray:
    """(H, W, 3) uint8 colours of a mask, for contact sheets (binary: white object on black)."""
    if modality.classes is None:
        return np.repeat(np.where(mask, 255, 0).astype(np.uint8)[..., None], 3, axis=2)
    return np.asarray(modality.class_colors, np.uint8)[mask]


def image_preview_rgb(image: np.ndarray, modality: Modality) -> np.ndarray:
    """(H, W, 3) uint8 view of an image of any modality: 16 bits scaled to 8, gray replicated, channels beyond
    the third dropped (two channels: the second also fills blue)."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = image[..., None]
    if modality.bit_depth == 16:
        image = (image.astype(np.float32) / 257.0).round().astype(np.uint8)
    channels = image.shape[2]
    if channels == 1:
        return np.repeat(image, 3, axis=2)
    if channels == 2:
        return np.concatenate([image, image[..., 1:2]], axis=2)
    return np.ascontiguousarray(image[..., :3])


# --- image files -----------------------------------------------------------------------------------------------

def image_suffix(modality: Modality) -> str:
    """".png" where PNG holds the image (1 channel, or RGB at 8 bits), else ".tif"."""
    return ".png" if modality.channels == 1 or (modality.channels == 3 and modality.bit_depth == 8) else ".tif"


def png_bytes(array: np.ndarray) -> bytes:
    """PNG-encode an (H, W) or (H, W, 3) array: uint8 gray (L) or RGB, uint16 gray (I;16)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def encode_image(image: np.ndarray, modality: Modality) -> bytes:
    """The file bytes of an (H, W, C) image: PNG (L, I;16 or RGB) or TIFF, as `image_suffix` says."""
    image = np.ascontiguousarray(np.asarray(image).astype(modality.dtype, copy=False))
    if image_suffix(modality) == ".png":
        return png_bytes(image[..., 0] if modality.channels == 1 else image)
    import tifffile

    buffer = io.BytesIO()
    tifffile.imwrite(buffer, image, photometric="rgb" if modality.channels == 3 else "minisblack",
                     planarconfig="contig", compression="zlib", metadata=None)
    return buffer.getvalue()


def encode_mask(mask: np.ndarray, modality: Modality) -> bytes:
    """PNG bytes of a mask (bool or class indices) as `mask_file_array` writes it."""
    return png_bytes(mask_file_array(mask, modality))
