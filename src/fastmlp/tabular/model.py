"""``fastmlp.TabularModel``: a network and the data handling in front of it,
used as one model: raw table in, predictions in the target's own labels or
units out, the same from Python, the command line and ONNX."""
import numpy as np

from .preprocessor import Preprocessor
from .target import ClassTarget


class TabularModel:
    """A fitted ``Preprocessor`` and the ``fastmlp.MLP`` it feeds.

    ``fastmlp train --save`` writes one; ``fastmlp.load`` reads it back. Built
    in Python, ``TabularModel(network, preprocessor).fit(X, y, ...)`` fits the
    preprocessor on (X, y) when it is not fitted yet, then the network on
    the transformed table (every keyword of ``MLP.fit`` is passed on;
    ``validation_data`` is transformed the same way, and a ``class_weight``
    dict is given in the class labels).

    Parameters
    ----------
    network : fastmlp.MLP
        Its input width is the preprocessor's ``n_inputs``.
    preprocessor : fastmlp.Preprocessor, optional
        Default: ``Preprocessor()`` (standardization, no imputation, no
        one-hot encoding).
    """

    def __init__(self, network, preprocessor=None):
        self.network = network
        self.preprocessor = Preprocessor() if preprocessor is None else preprocessor

    # -- what the model is -------------------------------------------------------

    @property
    def classes_(self):
        """The class labels in output order (classifiers), else None."""
        return self.preprocessor.classes_

    @property
    def feature_names_in_(self):
        names = self.preprocessor.feature_names
        return None if names is None else np.array(names, dtype=object)

    @property
    def n_features_in_(self):
        return len(self.preprocessor.columns)

    @property
    def target_name(self):
        target = self.preprocessor.target
        return None if target is None else target.name

    def __repr__(self):
        return f"TabularModel({self.network!r}, {self.preprocessor!r})"

    # -- fit and use ---------------------------------------------------------------

    def _check_width(self):
        n0, width = self.network.layer_sizes[0], self.preprocessor.n_inputs
        if n0 != width:
            raise ValueError(f"the preprocessor makes {width} inputs, but the network "
                             f"takes {n0}")

    def fit(self, X, y, **fit_options):
        net, pre = self.network, self.preprocessor
        inputs = None
        if pre.columns is None:
            # One pass over the table fits the preprocessor and makes the
            # network's input.
            inputs = pre.fit_transform(X, y, loss=net.loss_name)
        self._check_width()
        inputs = self.transform(X) if inputs is None else inputs.astype(net.dtype)
        validation = fit_options.pop("validation_data", None)
        if validation is not None:
            Xv, yv = validation
            validation = (self.transform(Xv), self._encode(yv))
        weights = fit_options.get("class_weight")
        if isinstance(weights, dict) and isinstance(pre.target, ClassTarget):
            fit_options["class_weight"] = pre.target.encode_keys(weights)
        net.fit(inputs, self._encode(y), validation_data=validation, **fit_options)
        return self

    def _encode(self, y):
        target = self.preprocessor.target
        return y if target is None else target.encode(y)

    def transform(self, X):
        """The network's input for the table X, in the network's dtype."""
        self._check_width()
        return self.preprocessor.transform(X, dtype=self.network.dtype)

    def forward(self, X):
        """The network's outputs for the table X (probabilities for
        classifiers; for a standardized mse target, in its scaled units:
        ``predict`` maps them back)."""
        return self.network.forward(self.transform(X))

    def predict(self, X):
        """Class labels in their original values, or outputs in the target's
        own units."""
        pred = self.network.predict(self.transform(X))
        target = self.preprocessor.target
        return pred if target is None else target.decode(pred)

    def predict_proba(self, X):
        """Probabilities per class in ``classes_`` order, (n, n_classes); a
        binary model with one output gives the two columns ``[1 - p, p]``."""
        if self.network.loss_name == "mse":
            raise ValueError("predict_proba needs a classification model "
                             "(cross_entropy or binary_cross_entropy), not mse")
        return self.proba_of_outputs(self.forward(X))

    def proba_of_outputs(self, outputs):
        """``predict_proba``'s answer for the network's ``outputs``."""
        target = self.preprocessor.target
        if isinstance(target, ClassTarget) and target.binary:
            return np.column_stack([1 - outputs[:, 0], outputs[:, 0]])
        return outputs

    def save(self, path):
        """Write the network and the preprocessor to one file
        (``fastmlp.load`` reads it)."""
        from ..io import persist

        self._check_width()
        persist.save(self.network, path, preprocessor=self.preprocessor)

    def to_onnx(self):
        """The model as an ONNX graph: input "X", the raw number columns
        (float64, NaN for missing) and, with one-hot text columns,
        "X_text" (strings, "" for missing); outputs "Y" (``predict_proba``
        for classifiers, ``predict`` for regression) and, for classifiers,
        "label" (fastmlp.tabular.onnx)."""
        from .onnx import to_onnx

        self._check_width()
        return to_onnx(self)
