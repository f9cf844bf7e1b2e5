"""Inputs: everything a caller hands a model, checked and converted once.

Owns the validation of arguments and arrays (``validation``: X, y and
every hyperparameter, with messages that name the problem; ``ClassIndices``,
the type of a target of class indices), sparse X (``sparse``: scipy.sparse
checked and converted to ``CsrRows``, and ``input_rows``, the kernels'
input source of either kind), pandas DataFrames (``frames``) and the shape
limits every input kind shares (``shapes``).

May import: ``fastmlp._kernels`` (the input source types) and numpy/scipy;
pandas only when given a DataFrame. Nothing else of fastmlp.
Internal: the public API is ``fastmlp.MLP`` and the modules it names.
"""
