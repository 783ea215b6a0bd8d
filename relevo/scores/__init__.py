"""Profile scores: what `relevo train` computes for each customer and stores on the profile,
for conditions to read (segment.id, segment.label, propensity.purchase_30d,
propensity.churn_90d, clv.next_12m). Pure: polars, numpy, scikit-learn; no storage.

    features  customers as of a cutoff: RFM, recent trend, gaps, browsing
    model     Propensity: P(an order within a horizon), two classifiers averaged, calibrated
    value     expected revenue over a horizon (BG/NBD x Gamma-Gamma, relevo.propensity)
    scoring   score_customers: segments (relevo.segments), propensity, churn, value per person
    records   ProfileScore: a stored row and the document conditions see

Storage: relevo.storage.score_store. Evaluation against the literature's references:
relevo.offline.propensity.
"""
