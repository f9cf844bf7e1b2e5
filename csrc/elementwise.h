/*
 * Elementwise kernels of fastmlp: activations, their derivatives, the fused
 * output-layer losses, bias add, column sums and the parameter update.
 *
 * Plain C so that the compiler vectorizes the simple loops; each kernel
 * exists for float (_f) and double (_d), generated from one definition
 * (elementwise_impl.h) and compiled for several instruction sets, one of
 * which is chosen at run time (elementwise.c, simd.h). Callers (the Cython
 * layer) guarantee valid pointers and sizes: nothing here checks its
 * arguments.
 *
 * Derivatives are computed from the activation *output* a = sigma(z), so the
 * pre-activations never need to be stored.
 */
#ifndef FASTMLP_ELEMENTWISE_H
#define FASTMLP_ELEMENTWISE_H

#include <stddef.h>

/* Activation codes; fastmlp._kernels._train publishes them to Python by name. */
enum {
    FM_IDENTITY = 0,
    FM_SIGMOID = 1,
    FM_TANH = 2,
    FM_RELU = 3,
    FM_LEAKY_RELU = 4,
    FM_SOFTMAX = 5,
    /* Output layers only: the inverse of the Poisson loss's log link. */
    FM_EXP = 6
};

/* Loss codes, published the same way. */
enum {
    FM_MSE = 0,
    FM_CROSS_ENTROPY = 1,
    FM_BINARY_CROSS_ENTROPY = 2,
    /* Half the Poisson deviance, on an FM_EXP output. */
    FM_POISSON = 3,
    /* FM_CROSS_ENTROPY with each row's target given as its class index
     * (one value per row, held in the float type) instead of a one-hot row:
     * the same loss and delta, bit for bit, without an n x k target. */
    FM_CROSS_ENTROPY_LABELS = 4
};

/* Published to Python as fastmlp._kernels._train.LEAKY_SLOPE (the reference
 * and the ONNX export use it). */
#define FM_LEAKY_SLOPE 0.01

/* fm_sgd_update's third variant: v = m v + (1 - m) g; w -= lr (m v + (1 - m) g). */
#define FM_NESTEROV_AVERAGED 2

/* Instruction-set levels of the kernels, selected in elementwise.c and
 * dispatched to by csrc/simd.h. */
enum {
    FM_SIMD_BASELINE = 0,
    FM_SIMD_AVX2 = 1,
    FM_SIMD_AVX512 = 2
};

/* 1 if this CPU (and build) can run the level, else 0. */
int fm_simd_supported(int level);
/* The best level this CPU supports. */
int fm_simd_best(void);
/* Use `level` from now on; -1 (and no change) if it is not supported. Not
 * thread-safe against running kernels: call it before any work starts. */
int fm_simd_select(int level);
/* The level in use (choosing the best one on first call). */
int fm_simd_active(void);

/* How an output layer's loss is formed (fm_output_loss): the loss code, the
 * output activation (read by FM_MSE only; each other loss implies its own)
 * and the scale of the delta, held in double and converted to the kernel's
 * precision once at its top, as fm_update_coefs' scalars are. */
typedef struct {
    int loss;
    int out_act;
    double scale;
} fm_loss_spec;

/* The coefficients of one update pass (fm_apply_velocity,
 * fm_mix_apply_velocity, fm_sgd_update, fm_adam_update), each kernel
 * reading those of its rule. The scalars are held in double and converted
 * to the kernel's precision once at its top by a plain C cast: the same
 * value a caller converting them to pass as T would give. */
typedef struct {
    double lr;     /* the learning rate; Adam's lr_t, its bias corrections folded in */
    double m;      /* the momentum, or Adam's b1 */
    double b2;     /* Adam's b2 */
    double eps;    /* Adam's epsilon as added to sqrt(m2) */
    double l2c;    /* coefficient of w added to the gradient; 0 for biases */
    double gs;     /* the scale of a formed gradient mixed in (fm_mix_apply_velocity) */
    int nesterov;  /* fm_sgd_update's variant: 0, 1 or FM_NESTEROV_AVERAGED */
    int want_sumsq;
    int *nonfinite;
} fm_update_coefs;

#define FM_DECLARE(T, S)                                                       \
    /* x = sigma(x) in place; act is any code but FM_SOFTMAX. */               \
    void fm_activate_##S(int act, T *x, size_t n);                             \
    /* x = exp(x) in place, for x <= 0 (results below the smallest normal  \
     * number are 0); vectorizable, error measured in tests. */              \
    void fm_exp_nonpositive_##S(T *x, size_t n);                               \
    /* Row-wise softmax of a rows x cols block, in place. */                   \
    void fm_softmax_rows_##S(T *x, size_t rows, size_t cols);                  \
    /* delta *= sigma'(z), given a = sigma(z). */                              \
    void fm_derivative_mul_##S(int act, const T *a, T *delta, size_t n);       \
    /* z = sigma(z + b) for each row of a rows x cols block; act may not be \
     * FM_SOFTMAX (the output layer passes FM_IDENTITY: bias only). */      \
    void fm_bias_activate_##S(int act, T *z, const T *b, size_t rows,         \
                              size_t cols);                                  \
    /* out = beta * out + alpha * (column sums of d, rows of ld elements);   \
     * beta == 0 ignores out. */                                               \
    void fm_colsum_##S(const T *d, size_t rows, size_t cols, size_t ld,       \
                       T alpha, T beta, T *out);                               \
    /* fm_derivative_mul on a rows x cols block, then fm_colsum of the     \
     * result into out (bit for bit), in one pass. */                          \
    void fm_derivative_mul_colsum_##S(int act, const T *a, T *delta,          \
                                      size_t rows, size_t cols, T alpha,       \
                                      T beta, T *out);                         \
    /* Output layer fused with its loss (spec). z holds the rows x k        \
     * pre-activations and is overwritten by the output activations. Returns \
     * the sum of the per-sample losses (in double); when delta is not NULL  \
     * also writes delta = spec->scale * dLoss/dz. A row_weight array (NULL: \
     * all 1) weights each row's loss and delta (sample weights). y holds    \
     * rows x k targets, or rows class indices for FM_CROSS_ENTROPY_LABELS. */ \
    double fm_output_loss_##S(const fm_loss_spec *spec, T *z, const T *y,      \
                              T *delta, size_t rows, size_t k,                 \
                              const T *row_weight);                            \
    /* Sum of squares, accumulated in double. */                              \
    double fm_sumsq_##S(const T *x, size_t n);                                 \
    /* g += c * w */                                                           \
    void fm_axpy_##S(T c, const T *w, T *g, size_t n);                         \
    /* x *= c */                                                               \
    void fm_scale_##S(T c, T *x, size_t n);                                    \
    /* With v already holding m*v + (1-m)*dLoss/dw: v += l2c * w (skipped    \
     * when l2c == 0), then w -= lr * v. Returns sum of w^2 before the update  \
     * when want_sumsq, else 0; sets *nonfinite to 1 if any new w is inf or   \
     * NaN (and leaves it alone otherwise). Reads lr, l2c, want_sumsq and    \
     * nonfinite of c. */                                                     \
    double fm_apply_velocity_##S(T *w, T *v, size_t n,                        \
                                 const fm_update_coefs *c);                   \
    /* v = m * v + (1 - m) * gs * g, then as fm_apply_velocity: a formed    \
     * gradient g mixed into the velocity in the update pass. */              \
    double fm_mix_apply_velocity_##S(T *w, T *v, const T *g, size_t n,         \
                                     const fm_update_coefs *c);                \
    /* Copy the rows idx[0..rows) of src (each cols wide) into dst. */         \
    void fm_gather_rows_##S(const T *src, const ptrdiff_t *idx, size_t rows,   \
                            size_t cols, T *dst);                              \
    /* scikit-learn's SGD step, c->nesterov 0 plain, 1 with its Nesterov    \
     * momentum, FM_NESTEROV_AVERAGED fastmlp's Nesterov rule (see          \
     * elementwise_impl.h); l2c * w added to g. */                          \
    double fm_sgd_update_##S(T *w, const T *g, T *v, size_t n,                 \
                             const fm_update_coefs *c);                        \
    /* scikit-learn's Adam step, c->lr with the bias corrections folded in. */ \
    double fm_adam_update_##S(T *w, const T *g, T *m1, T *m2, size_t n,        \
                              const fm_update_coefs *c);

FM_DECLARE(float, f)
FM_DECLARE(double, d)

#undef FM_DECLARE

#endif
