"""`singan-seg pack create|verify|info|import-legacy`: sharing generators."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import console


pack_app = typer.Typer(no_args_is_help=True, help="Share generators: create, verify and inspect generator packs.")


@pack_app.command("create")
def pack_create(
    model_dirs: list[Path] = typer.Argument(..., help="complete model directories written by `train`"),
    out: Path = typer.Option(..., help="pack folder, or archive ending in .zip, .tar.gz or .tar.zst"),
    name: Optional[str] = typer.Option(None, help="pack name (default: OUT's name)"),
    license: str = typer.Option("unspecified", help="terms of use, e.g. CC-BY-4.0; copied into the model card"),
    ids: Optional[str] = typer.Option(None, help="comma-separated generator ids (default: model dir names)"),
    include_reconstruction: bool = typer.Option(False, help="keep the reconstruction noise (real images can then "
                                                "be rebuilt from the pack; the card warns)"),
    keep_provenance: bool = typer.Option(False, help="keep input file names, checksums and source ids"),
    overwrite: bool = typer.Option(False, help="replace an existing pack at OUT"),
) -> None:
    """Pack model directories into a shareable generator pack (reconstruction noise removed by default)."""
    from ..packs import create_pack

    id_list = [i.strip() for i in ids.split(",")] if ids else None
    path = create_pack(model_dirs, out, name=name, license=license, ids=id_list,
                       include_reconstruction=include_reconstruction, keep_provenance=keep_provenance,
                       overwrite=overwrite)
    console.print(f"[green]pack with {len(model_dirs)} generators written to {path}[/green]")


@pack_app.command("verify")
def pack_verify(pack: str = typer.Argument(..., help="pack folder, archive or URL")) -> None:
    """Check every file of a pack against the sha256 in its pack.json."""
    from ..packs import open_pack, verify_pack

    names = verify_pack(open_pack(pack).folder)
    console.print(f"[green]ok[/green]: {len(names)} files match pack.json")


@pack_app.command("info")
def pack_info(pack: str = typer.Argument(..., help="pack folder, archive or URL")) -> None:
    """Print the model card summary of a pack."""
    from ..packs import pack_info as info

    typer.echo(info(pack))


@pack_app.command("import-legacy")
def pack_import_legacy(
    run_dirs: list[Path] = typer.Argument(..., help="original SinGAN-Seg run folders (Gs.pth, NoiseAmp.pth, "
                                          "reals.pth)"),
    out: Path = typer.Option(..., help="pack folder or archive to write"),
    trust_pickle: bool = typer.Option(False, help="required: the files are pickles, which can run code"),
    ids: Optional[str] = typer.Option(None, help="comma-separated generator ids (default: folder names)"),
    name: Optional[str] = typer.Option(None, help="pack name"),
    license: str = typer.Option("unspecified", help="terms of use"),
    include_reconstruction: bool = typer.Option(False, help="keep Zs.pth's reconstruction noise (card warns)"),
    overwrite: bool = typer.Option(False, help="replace an existing pack at OUT"),
) -> None:
    """Convert checkpoints of the original SinGAN-Seg code into a normal pack (allow-listed unpickling)."""
    from ..packs.legacy import import_legacy

    id_list = [i.strip() for i in ids.split(",")] if ids else None
    path = import_legacy(run_dirs, out, trust_pickle=trust_pickle, ids=id_list, name=name, license=license,
                         include_reconstruction=include_reconstruction, overwrite=overwrite)
    console.print(f"[green]pack with {len(run_dirs)} imported generators written to {path}[/green]")
