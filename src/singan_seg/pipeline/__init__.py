"""Whole-dataset builds: one generator per real pair, fold-aware, resumable, local workers or Ray."""

from .build import BuildResult, build_dataset, build_progress, export_training_set
from .settings import STYLE_CHOICES, DatasetSettings

__all__ = ["BuildResult", "build_dataset", "build_progress", "export_training_set", "DatasetSettings", "STYLE_CHOICES"]
