"""Generator packs: model directories made shareable (safetensors + pack.json + MODEL_CARD.md).

    create_pack(model_dirs, out)            -> pack folder or archive (reconstruction noise removed)
    verify_pack(pack_dir)                   -> names of the files checked against pack.json
    open_pack(path_or_url, ids)             -> OpenPack (downloaded, cached, verified)
    load_pack_model(pack_dir, id)           -> SinGANSeg
    generate_from_pack(path_or_url, out)    -> samples directories, one per generator
    pack_info(path_or_url)                  -> the card summary
"""

from __future__ import annotations

from pathlib import Path

from ..download import cache_root
from .card import card_summary
from .export import create_pack
from .fetch import OpenPack, open_pack
from .index import verify_pack
from .load import generate_from_pack, load_pack_model


def pack_info(source: str | Path, cache_dir: str | Path | None = None) -> str:
    """The card summary of a pack (path or URL); downloads and verifies the index and card only."""
    return card_summary(open_pack(source, ids=[], cache_dir=cache_dir).index)


__all__ = ["OpenPack", "cache_root", "create_pack", "generate_from_pack", "load_pack_model", "open_pack",
           "pack_info", "verify_pack"]
