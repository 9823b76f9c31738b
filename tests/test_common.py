"""scikit-learn's own estimator checks, with the expected failures written down."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_mtl import MultiTaskNetEstimator

_WHY_SAMPLE_WEIGHT = (
    "weighting a row by 2 equals repeating it only up to float32 rounding (the check's "
    "rtol=1e-7 is below float32's resolution: some architectures differ by 1e-7 relative) "
    "and only in full-batch training: with several shuffled batches a repeated row lands "
    "in other batches than a weighted one, as for any minibatch-SGD network"
)
_WHY_SAMPLE_ORDER = (
    "float32 matrix products (MKL on x86) round a row's result differently depending on "
    "its position in the batch when the inner dimension is not a multiple of 4; the "
    "default periodic embedding makes the check's 3 columns 15 wide, and predict_proba "
    "then differs by one float32 ulp (3e-8) for 2 of 80 values. Predictions agree to "
    "float32 resolution, and the previous defaults (no embedding) pass the check exactly "
    "(tests/test_defaults.py)"
)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": _WHY_SAMPLE_WEIGHT,
    "check_sample_weight_equivalence_on_sparse_data": _WHY_SAMPLE_WEIGHT,
    "check_methods_sample_order_invariance": _WHY_SAMPLE_ORDER,
}


@parametrize_with_checks(
    [
        MultiTaskNetEstimator(hidden_layer_sizes=(8,), max_epochs=3, random_state=0),
        # the options that are off by default (issue 18)
        MultiTaskNetEstimator(
            hidden_layer_sizes=(8,),
            max_epochs=3,
            random_state=0,
            label_smoothing=0.1,
            weight_averaging=2,
        ),
    ],
    expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
