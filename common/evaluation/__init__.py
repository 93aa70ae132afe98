"""Judging generators: sample-quality metrics, feature networks, the dataset classifier and the
contrastive encoder, cached reference statistics, the evaluate command and the evaluation callback;
and for likelihood models their own evaluate command (exact or bounded test-split likelihood).

Metrics are pure NumPy/SciPy on features (`metrics`); whatever computes features
or reads weights sits beside them; training-time losses do not belong here.
"""
