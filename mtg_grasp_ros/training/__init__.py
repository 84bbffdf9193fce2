"""Training, evaluation (the paper's metric, k-fold), export and plots; used by the
``train``, ``evaluate``, ``evaluate-folds``, ``export`` and ``plot`` commands.
"""
