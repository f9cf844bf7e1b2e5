"""skl2onnx support for the drop-in estimators: register_onnx_converters().

skl2onnx converts estimators by their class, so it does not know fastmlp's
MLPClassifier and MLPRegressor even though they are subclasses of
scikit-learn's (to_onnx raises MissingShapeCalculator). Their fitted
attributes are scikit-learn's (coefs_, intercepts_, activation,
out_activation_, classes_), so skl2onnx's own MLP converters and shape
calculators serve them as they are; registering them is all it takes. The
classifier's converter reads the options zipmap and nocl, which a
registration must declare for skl2onnx to accept them.
"""

CLASSIFIER_OPTIONS = {"zipmap": [True, False, "columns"], "nocl": [True, False]}


def register_onnx_converters():
    """Teach skl2onnx (``pip install skl2onnx``) to convert fastmlp.sklearn's
    MLPClassifier and MLPRegressor, Pipelines containing them included;
    afterwards ``skl2onnx.to_onnx(estimator, X)`` works as for
    scikit-learn's estimators. Safe to call more than once."""
    try:
        from skl2onnx import update_registered_converter
        from skl2onnx.common.shape_calculator import (
            calculate_linear_classifier_output_shapes,
            calculate_linear_regressor_output_shapes)
        from skl2onnx.operator_converters.multilayer_perceptron import (
            convert_sklearn_mlp_classifier, convert_sklearn_mlp_regressor)
    except ImportError as exc:
        raise ImportError("register_onnx_converters needs skl2onnx: pip install skl2onnx") \
            from exc

    from ._estimators import MLPClassifier, MLPRegressor

    update_registered_converter(
        MLPClassifier, "FastmlpMLPClassifier", calculate_linear_classifier_output_shapes,
        convert_sklearn_mlp_classifier, options=CLASSIFIER_OPTIONS)
    update_registered_converter(
        MLPRegressor, "FastmlpMLPRegressor", calculate_linear_regressor_output_shapes,
        convert_sklearn_mlp_regressor)
