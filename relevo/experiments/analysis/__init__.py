"""Experiment analysis: from the sticky assignments and the goal events to each arm's sufficient
statistics (aggregated by the database, never row by row in Python), then to the statistics
engine's answers (relevo.experiments.stats), the uplift over time and the ROI.

    plan.py        what an experiment's definition asks to measure (goals, guardrails, analysis)
    sums.py        the aggregated sums of one arm, and the engine's statistics made from them
    data.py        the protocol the storage adapter implements (relevo.storage.experiment_data)
    results.py     one experiment's results: arms, goals, SRM, breakdown, uplift over time
    roi.py         incremental revenue of an experiment, and of the programme (global holdout)
    service.py     the use cases the API and the CLI call
"""
