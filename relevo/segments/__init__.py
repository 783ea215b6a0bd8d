"""Automatic segments: customers clustered on RFM and category affinity, each segment told in
plain words for a marketer. Pure: no storage, no HTTP; callers bring the customers and keep the
model files where they keep models.

    features    per-customer inputs (CustomerInputs, a polars frame, a profile's computed
                state) -> Customers; FeatureSpace: log1p + standardised RFM, weighted shares
    clustering  fit_segments: k by silhouette over a range, k-means, stable seg-N ids;
                SegmentModel: assign, as_dict (what GET /v1/segments lists), save / load
    describe    the words: value, frequency, recency, categories; the summary sentence
    plot        plot_segments: a PNG of the customers on two principal components
    errors      SegmentsError > InvalidCustomers, NotEnoughCustomers, SegmentFilesError

Segments cover the customers with at least one order; prospects (no order yet) are in none.
"""

from relevo.segments.clustering import (
    CRITERION,
    Assignment,
    Candidate,
    Segment,
    SegmentModel,
    Selection,
    fit_segments,
)
from relevo.segments.describe import Bands, Centre, label, summary
from relevo.segments.errors import (
    InvalidCustomers,
    NotEnoughCustomers,
    SegmentFilesError,
    SegmentsError,
)
from relevo.segments.features import (
    OTHER,
    CustomerInputs,
    Customers,
    FeatureSpace,
    customer_from_profile,
)
from relevo.segments.plot import plot_segments

__all__ = [
    "CRITERION",
    "OTHER",
    "Assignment",
    "Bands",
    "Candidate",
    "Centre",
    "CustomerInputs",
    "Customers",
    "FeatureSpace",
    "InvalidCustomers",
    "NotEnoughCustomers",
    "Segment",
    "SegmentFilesError",
    "SegmentModel",
    "SegmentsError",
    "Selection",
    "customer_from_profile",
    "fit_segments",
    "label",
    "plot_segments",
    "summary",
]
