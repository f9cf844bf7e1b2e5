"""fastmlp: fast multilayer perceptron training on the CPU.

``fastmlp.MLP`` trains with fused Cython kernels over BLAS;
``fastmlp.reference.MLP`` is the pure-NumPy implementation of the same
contract, used as the oracle in tests.
"""
from ._model import DivergenceError
from .mlp import MLP
from . import reference
from ._config import show_config
from ._gradcheck import gradcheck
from ._plot import plot_history
from .tabular import Preprocessor, TabularModel, load

__version__ = "0.1.0"

__all__ = ["MLP", "DivergenceError", "reference", "show_config", "gradcheck", "plot_history",
           "Preprocessor", "TabularModel", "load", "__version__"]
