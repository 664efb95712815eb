"""Pyramid sizes, per-scale networks and the multi-scale model with its safetensors checkpoint format."""

from .checkpoint import FORMAT_VERSION, is_model_dir, load_model, read_model_meta, save_model
from .networks import CHANNELS, ScaleDiscriminator, ScaleGenerator
from .pyramid import Pyramid, compute_pyramid, finest_shape
from .singan import SinGANSeg

__all__ = ["FORMAT_VERSION", "is_model_dir", "load_model", "read_model_meta", "save_model", "CHANNELS",
           "ScaleDiscriminator", "ScaleGenerator", "Pyramid", "compute_pyramid", "finest_shape", "SinGANSeg"]
