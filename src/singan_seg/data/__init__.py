"""Reading, validating and writing image/mask data (the bottom layer: imports nothing else of the package)."""

from .modality import RGB_BINARY, MaskClass, Modality, parse_classes
from .pairs import Pair, load_pair, pair_from_arrays
from .phantom import make_labelled_phantom, make_phantom
from .samples_dir import MANIFEST_COLUMNS, load_sample, read_manifest, write_manifest, write_pair_files
from .volumes import nifti_slices

__all__ = ["RGB_BINARY", "MaskClass", "Modality", "parse_classes", "Pair", "load_pair", "pair_from_arrays",
           "make_phantom", "make_labelled_phantom", "MANIFEST_COLUMNS", "load_sample",
           "read_manifest", "write_manifest", "write_pair_files", "nifti_slices"]
