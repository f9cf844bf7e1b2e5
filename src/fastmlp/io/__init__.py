"""Model files and exports.

Owns saving and loading (``persist``; the format is docs/file-format.md),
atomic writes (``atomic``), the generator's state as JSON (``rngstate``),
what the command line records of the data handling (``metadata``) and the
ONNX export (``onnx``).

May import: ``fastmlp.inputs``, ``fastmlp.network`` and ``fastmlp._kernels``
(published constants). Nothing above: a model class is passed in.
Internal: the public API is ``MLP.save``, ``MLP.load`` and ``MLP.to_onnx``.
"""
