"""Style transfer: give synthetic images the style of the real image they came from (masks untouched).

Any modality: fast takes any channel count, gatys gray or RGB; 8- and 16-bit images keep their bit depth.

    transfer_style(images, real_image, method="gatys"|"fast", ratio="1:1000")  -> styled uint8/uint16 arrays
    style_samples_dir(samples_dir, real_image, out_dir, ...)                   -> a styled samples directory
"""

from .backbones import BACKBONE_CHOICES, BACKBONES, Backbone, load_backbone
from .transfer import DEFAULT_STEPS, METHODS, StyleSettings, Stylist, parse_ratio, style_samples_dir, transfer_style

__all__ = ["BACKBONE_CHOICES", "BACKBONES", "Backbone", "load_backbone", "DEFAULT_STEPS", "METHODS",
           "StyleSettings", "Stylist", "parse_ratio", "style_samples_dir", "transfer_style"]
