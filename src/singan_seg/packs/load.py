"""Generators from a pack → `SinGANSeg` models (through the model-dir loader) → samples directories."""

from __future__ import annotations

from pathlib import Path

from ..device import resolve_device
from ..errors import InputError, OutputExistsError
from ..model.checkpoint import model_from_bytes
from ..model.singan import SinGANSeg
from ..sampling import sample, write_samples
from .fetch import OpenPack, open_pack
from .index import generator_entry, read_index, verify_file

NO_RECONSTRUCTION = ("this pack was shared without reconstruction noise (for privacy), so only start scale 0 is "
                     "possible; start scale {} would replay the real training image")


def load_pack_model(pack_dir: str | Path, generator_id: str, device: str = "cpu") -> SinGANSeg:
    """Load one generator of a local pack folder, after checking its file's sha256 against pack.json."""
    pack_dir = Path(pack_dir)
    index = read_index(pack_dir)
    entry = generator_entry(index, generator_id)
    path = verify_file(pack_dir, entry["file"], index)
    return model_from_bytes(entry["model"], path.read_bytes(), path, resolve_device(device))[0]


def generate_from_pack(pack: str | Path | OpenPack, out_dir: str | Path, ids: list[str] | None = None,
                       num: int = 10, start_scale: int = 0, seed: int = 0, height: int | None = None,
                       width: int | None = None, scale_h: float | None = None, scale_w: float | None = None,
                       soft_masks: bool = False, device: str = "auto", overwrite: bool = False,
                       cache_dir: str | Path | None = None, variation: float | None = None) -> list[Path]:
    """Sample `num` pairs from each selected generator of a pack into `out_dir/<id>/` samples directories.

    Args:
        pack: a pack path or URL (see `open_pack`), or an already opened pack.
        ids: generator ids (default: all in the pack).
        num, start_scale, seed, height, width, scale_h, scale_w, variation: as in `sample`; the same seed and
            variation give the same pairs as sampling the original model directory. A pack without the
            reconstruction noise samples with variation 1 when none is given (its models' own default needs it).
        cache_dir: download cache (default `$SINGAN_SEG_CACHE` or the user cache folder).

    Example:
        >>> generate_from_pack("https://example.org/packs/polyps/", "samples", ids=["p1"], num=4)
    """
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise OutputExistsError(out, "files", "choose a new or empty directory, or pass --overwrite")
    opened = pack if isinstance(pack, OpenPack) else open_pack(pack, ids, cache_dir)
    if start_scale > 0 and not opened.index["includes_reconstruction"]:
        raise InputError(NO_RECONSTRUCTION.format(start_scale))
    written = []
    for generator_id in opened.ids:
        model = load_pack_model(opened.folder, generator_id, device)
        samples = sample(model, num=num, start_scale=start_scale, seed=seed, height=height, width=width,
                         scale_h=scale_h, scale_w=scale_w, variation=variation)
        written.append(write_samples(samples, out / generator_id, model_name=generator_id, source_id=generator_id,
                                     soft_masks=soft_masks, overwrite=overwrite))
    return written
