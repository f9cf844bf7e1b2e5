"""Tables in, predictions in the table's own terms out: the data handling
that stands in front of a network (``Preprocessor``), the model that joins
the two (``TabularModel``), and ``load``, which reads any model file.
"""
from .model import TabularModel
from .preprocessor import Preprocessor


def load(path):
    """The model stored at ``path``: a ``TabularModel`` when the file holds
    data handling (written by ``fastmlp train --save``, ``TabularModel.save``,
    or a version-3 file with class labels or standardization), else a
    ``fastmlp.MLP``."""
    from ..io import persist
    from ..mlp import MLP

    net, preprocessor = persist.load_any(MLP, path)
    return net if preprocessor is None else TabularModel(net, preprocessor)


__all__ = ["Preprocessor", "TabularModel", "load"]
