"""Domain priors in a dataset build: which prior each source's generator is warm-started from, and the fold check.

Fold safety. One build covers every fold: the samples of a source in fold f are used (by `export --exclude-fold k`
and `benchmark`) to train segmenters tested on every other fold k. A generator must therefore carry nothing of an
image outside its source's own fold, so the prior it starts from may have seen images of fold f, or images that are
not in this dataset, and never an image of another fold. Hence one prior per fold, each trained on that fold's own
images (`prior train --folds folds.csv --fold f`), given as `--prior f=DIR` for every fold with sources; a prior
given as `--prior DIR` serves every source, so it may have seen images of a fold only where all the sources are
in that fold (an external prior, or a `--limit`ed build).

What a prior saw (its config.json `trained_on`, bound to its weights' checksum, model/prior.py) is matched against
this build's pairs by id AND by the sha256 of the image files (a renamed copy is caught too), using this build's
folds.csv, not the prior's. A build without folds.csv records its priors and checks nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data.dataset import PairFiles
from ..errors import InputError
from ..files import sha256_file
from ..model.prior import Prior, load_prior

ALL = "*"  # the key of a prior given without a fold: it serves every source


@dataclass
class PriorPlan:
    """The priors of a build: by fold (ALL for every fold) and what dataset.json records of them."""
    paths: dict[str, Path]  # "0", "1", ... or ALL -> prior dir

    def for_fold(self, fold: int | None) -> Path | None:
        """The prior a source of `fold` starts from (None: the build has no priors)."""
        return self.paths.get(str(fold), self.paths.get(ALL)) if fold is not None else self.paths.get(ALL)


def parse_prior_specs(specs: list[str] | dict[Any, Any] | str | Path | None) -> dict[str, Path]:
    """`--prior` values: DIR (every source) or FOLD=DIR (the sources of that fold; repeat per fold)."""
    if specs is None:
        return {}
    if isinstance(specs, (str, Path)):
        specs = [str(specs)]
    if isinstance(specs, dict):
        specs = [f"{k}={v}" if k is not None and k != ALL else str(v) for k, v in specs.items()]
    paths: dict[str, Path] = {}
    for spec in specs:
        fold, sep, path = str(spec).partition("=")
        if not sep or not fold.strip().lstrip("-").isdigit():
            fold, path = ALL, str(spec)
        key = fold.strip() if fold == ALL else str(int(fold))
        if key in paths:
            raise InputError(f"--prior {spec}: {'a prior for every fold' if key == ALL else f'fold {key}'} "
                             "is given twice")
        paths[key] = Path(path)
    return paths


def plan_priors(specs: Any, pairs: list[PairFiles], all_pairs: list[PairFiles], fold_of: dict[str, int]
                ) -> tuple[PriorPlan | None, dict[str, Any]]:
    """Check the build's priors (every source has one; none saw another fold's image) and return the plan and
    dataset.json's record of them ({} without priors)."""
    paths = parse_prior_specs(specs)
    if not paths:
        return None, {}
    if not fold_of and set(paths) != {ALL}:
        raise InputError("--prior FOLD=DIR needs --folds; without folds give one --prior DIR for every source")
    plan = PriorPlan(paths=paths)
    source_folds = sorted({fold_of.get(p.id) for p in pairs}, key=lambda f: -1 if f is None else f)
    missing = [f for f in source_folds if plan.for_fold(f) is None]
    if missing:
        raise InputError(f"no --prior for the sources of fold {missing[0]}; give --prior {missing[0]}=DIR (or one "
                         "--prior DIR for every fold)")
    loaded = {key: load_prior(path) for key, path in paths.items()}
    if fold_of:
        seen = _build_images_seen(all_pairs, fold_of)
        for fold in source_folds:
            key = str(fold) if str(fold) in paths else ALL
            check_prior_fold(loaded[key], fold, seen)
    return plan, {key: prior.record() for key, prior in sorted(loaded.items())}


def _build_images_seen(pairs: list[PairFiles], fold_of: dict[str, int]) -> dict[str, list[tuple[str, int]]]:
    """This build's pairs by id and by image sha256 -> [(id, fold)] (a file may repeat under two ids)."""
    seen: dict[str, list[tuple[str, int]]] = {}
    for pair in pairs:
        if pair.id in fold_of:
            for key in (pair.id, sha256_file(pair.image)):
                seen.setdefault(key, []).append((pair.id, fold_of[pair.id]))
    return seen


def check_prior_fold(prior: Prior, fold: int | None, seen: dict[str, list[tuple[str, int]]]) -> None:
    """Refuse `prior` for the sources of `fold` if it saw an image of any other fold of this build (one line)."""
    others: dict[int, list[str]] = {}
    for image in prior.trained_on["images"]:
        for key in (image["id"], image["image_sha256"]):
            for ident, other in seen.get(key, []):
                if other != fold and ident not in others.setdefault(other, []):
                    others[other].append(ident)
    if not others:
        return
    other = min(others)
    ids = others[other]
    serves = f"the sources of fold {fold}" if fold is not None else "every source"
    raise InputError(f"this prior saw {len(ids)} image(s) of fold {other} (e.g. {ids[0]}), so it cannot serve {serves}:"
                     f" their samples train segmenters tested on fold {other}; train one prior per fold on that "
                     f"fold's own images (prior train --folds ... --fold {fold if fold is not None else 'F'})",
                     prior.path)
