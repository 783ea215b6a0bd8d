"""The use cases that run as jobs over a whole workspace, called alike by the CLI, the API and
the admin app:

    training    train_workspace: read the signals, fit every strategy, segments, propensity and
                lifetime value, publish a model version and each person's scores
    evaluation  evaluate_workspace: the offline evaluation (relevo.offline) on the workspace's
                own data, its tables, CSV files and plots
    progress    Progress: how a job reports its steps (a terminal bar, a log, nothing)

They take the composition root (relevo.services.Services) and do the I/O; what they compute
is in the pure packages (relevo.recs, relevo.offline, relevo.segments, relevo.scores).
"""
