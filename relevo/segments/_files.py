"""A SegmentModel as plain files: ``segments.json`` (everything in words and numbers) and
``segments.npz`` (the arrays of the feature space and the centroids, no pickles)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from relevo.segments.clustering import Candidate, Segment, SegmentModel, Selection
from relevo.segments.describe import Bands, Centre
from relevo.segments.errors import SegmentFilesError
from relevo.segments.features import FeatureSpace

FORMAT = 1
JSON_FILE = "segments.json"
ARRAYS_FILE = "segments.npz"


def save_model(model: SegmentModel, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    space = model.space
    np.savez(
        directory / ARRAYS_FILE,
        centroids=model.centroids,
        mean=space.mean,
        std=space.std,
        fill_shares=space.fill_shares,
    )
    document = {
        "format": FORMAT,
        "space": {"categories": list(space.categories), "category_scale": space.category_scale},
        "selection": {
            "criterion": model.selection.criterion,
            "k": model.selection.k,
            "sample_size": model.selection.sample_size,
            "seed": model.selection.seed,
            "n_init": model.selection.n_init,
            "candidates": [vars(c) for c in model.selection.candidates],
        },
        "bands": model.bands.as_dict(),
        "customers": model.customers,
        "prospects": model.prospects,
        "last_number": model.last_number,
        "segments": [s.as_dict() for s in model.segments],
    }
    (directory / JSON_FILE).write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")


def load_model(directory: Path) -> SegmentModel:
    try:
        document = json.loads((directory / JSON_FILE).read_text())
        with np.load(directory / ARRAYS_FILE, allow_pickle=False) as arrays:
            loaded = {name: np.asarray(arrays[name], dtype=np.float64) for name in arrays.files}
    except (OSError, ValueError, zipfile.BadZipFile) as error:
        raise SegmentFilesError(
            f"cannot read the segments in {directory} ({error}): run `relevo train` again"
        ) from error
    if document.get("format") != FORMAT:
        raise SegmentFilesError(
            f"the segments in {directory} are of format {document.get('format')}, this Relevo "
            f"reads format {FORMAT}: run `relevo train` again"
        )
    try:
        return _model(document, loaded)
    except (KeyError, TypeError, ValueError) as error:
        raise SegmentFilesError(
            f"the segments in {directory} are incomplete ({error!r}): run `relevo train` again"
        ) from error


def _model(document: dict[str, Any], arrays: dict[str, np.ndarray]) -> SegmentModel:
    space = FeatureSpace(
        categories=tuple(document["space"]["categories"]),
        mean=arrays["mean"],
        std=arrays["std"],
        fill_shares=arrays["fill_shares"],
        category_scale=float(document["space"]["category_scale"]),
    )
    chosen = document["selection"]
    segments = tuple(
        Segment(
            id=s["id"],
            label=s["label"],
            summary=s["summary"],
            size=int(s["size"]),
            share=float(s["share"]),
            centre=Centre.from_dict(s["centre"]),
        )
        for s in document["segments"]
    )
    centroids = arrays["centroids"]
    if centroids.shape != (len(segments), len(space.names)):
        raise ValueError(
            f"centroids of shape {centroids.shape} for {len(segments)} segments of "
            f"{len(space.names)} features"
        )
    return SegmentModel(
        space=space,
        centroids=centroids,
        segments=segments,
        selection=Selection(
            criterion=chosen["criterion"],
            k=int(chosen["k"]),
            candidates=tuple(Candidate(**c) for c in chosen["candidates"]),
            sample_size=int(chosen["sample_size"]),
            seed=int(chosen["seed"]),
            n_init=int(chosen["n_init"]),
        ),
        bands=Bands.from_dict(document["bands"]),
        customers=int(document["customers"]),
        prospects=int(document["prospects"]),
        last_number=int(document["last_number"]),
    )
