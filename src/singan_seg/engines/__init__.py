"""Training-free generators that make image/mask pairs straight from one real pair (no model directory)."""

from .patchnn import PatchNNConfig, generate_patchnn, generate_patchnn_dir

ENGINES = {"patchnn": generate_patchnn}

__all__ = ["ENGINES", "PatchNNConfig", "generate_patchnn", "generate_patchnn_dir"]
