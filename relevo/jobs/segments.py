"""The segments a served model version carries, read without the training stack: the API's
`GET /v1/segments` and `relevo segments` need only the saved model (numpy), never the
scikit-learn and matplotlib that `relevo train` fits and draws it with."""

from __future__ import annotations

from relevo.segments.clustering import SegmentModel
from relevo.segments.errors import SegmentsError
from relevo.services import Services

SEGMENTS = "segments"  # the version's folder of the segment model (relevo.recs.bundle.ATTACHED)


def current_segments(services: Services, workspace_id: int) -> SegmentModel | None:
    """The segments of the version being served (None before a training that found any);
    a new training's segments carry on their ids."""
    version = services.models.current_version(workspace_id)
    if version is None:
        return None
    folder = services.models.path_of(workspace_id, version) / SEGMENTS
    try:
        return SegmentModel.load(folder) if folder.is_dir() else None
    except SegmentsError:
        return None  # unreadable (an older format): numbered afresh
