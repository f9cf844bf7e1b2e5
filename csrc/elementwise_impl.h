/*
 * Kernel bodies for one scalar type T at one instruction-set level (see
 * elementwise.c): every function here is static and named by FN(), so each
 * inclusion makes its own copy, compiled for its level. No include guard.
 *
 * Selects are written with both arms computed first (T neg = ...; x = c ?
 * x : neg): the compiler may not evaluate a floating-point operation that
 * the source only evaluates conditionally (it could raise a flag the source
 * does not), so `c ? x : slope * x` stays a branch per element, while the
 * two-step form becomes a vector compare-and-blend on every path.
 */

/* exp(x) for x <= 0, in arithmetic and bit operations only, so that loops
 * calling it vectorize (libm's exp is an opaque call per element). x is
 * split as n ln2 + r with |r| <= ln2 / 2 (Cody-Waite, two-part ln2), exp(r)
 * is a Taylor polynomial in Horner form, and 2^n is built in the exponent
 * bits. Arguments whose result would not be a normal number give 0. The
 * error is measured against libm in tests/test_kernels.py. */
static inline T FN(exp_nonpositive)(T x)
{
    T xc = x < EXP_MIN_ARG ? (T)EXP_MIN_ARG : x;
    /* Adding 1.5 * 2^mantissa rounds x log2(e) to the integer n, which then
     * sits in the low bits of t's representation. */
    T t = xc * (T)LOG2E + (T)ROUND_MAGIC;
    T n = t - (T)ROUND_MAGIC;
    T r = (xc - n * (T)LN2_HI) - n * (T)LN2_LO;
    T p = (T)fm_inverse_factorial[EXP_DEGREE];
    for (int k = EXP_DEGREE - 1; k >= 0; k--) p = p * r + (T)fm_inverse_factorial[k];
    /* 2^n from the integer arithmetic of the bits (unsigned, wrapping),
     * without a float-to-int conversion, so that it vectorizes with AVX2. */
    UINT tbits, sbits;
    T scale;
    memcpy(&tbits, &t, sizeof t);
    sbits = (tbits - (UINT)ROUND_MAGIC_BITS + (UINT)EXP_BIAS) << MANT_BITS;
    memcpy(&scale, &sbits, sizeof scale);
    T result = p * scale;
    return x < EXP_MIN_ARG ? (T)0 : result;
}

/* expm1(x) for x <= 0 by the same reduction: with x = n ln2 + r,
 * expm1(x) = 2^n expm1(r) + (2^n - 1), and expm1(r) = r (1 + r/2! + ...)
 * keeps full relative accuracy for small |x| (n = 0), where exp(x) - 1
 * would cancel. Results are -1 below the normal range of exp. */
static inline T FN(expm1_nonpositive)(T x)
{
    T xc = x < EXP_MIN_ARG ? (T)EXP_MIN_ARG : x;
    T t = xc * (T)LOG2E + (T)ROUND_MAGIC;
    T n = t - (T)ROUND_MAGIC;
    T r = (xc - n * (T)LN2_HI) - n * (T)LN2_LO;
    T q = (T)fm_inverse_factorial[EXP_DEGREE + 1];
    for (int k = EXP_DEGREE; k >= 1; k--) q = q * r + (T)fm_inverse_factorial[k];
    q *= r;
    UINT tbits, sbits;
    T scale;
    memcpy(&tbits, &t, sizeof t);
    sbits = (tbits - (UINT)ROUND_MAGIC_BITS + (UINT)EXP_BIAS) << MANT_BITS;
    memcpy(&scale, &sbits, sizeof scale);
    /* Below EXP_MIN_ARG this is already -1 exactly: x was clamped there,
     * where scale is the smallest normal power of two. */
    return scale * q + (scale - (T)1);
}

static inline T FN(tanh_scalar)(T z)
{
    /* tanh|z| = -expm1(-2|z|) / (2 + expm1(-2|z|)), given z's sign back.
     * fabs and copysign are single bit operations on every target, where
     * compare-and-blend pairs cost two vector instructions each; and
     * tanh(+-0) = +-0. */
    T em = FN(expm1_nonpositive)((T)-2 * FABS(z));
    return COPYSIGN(em / ((T)2 + em), z); /* the quotient is -tanh|z| */
}

static inline T FN(sigmoid_scalar)(T z)
{
    /* With t = exp(-|z|) <= 1 nothing overflows on either side. */
    T t = FN(exp_nonpositive)(-FABS(z));
    T inv = (T)1 / ((T)1 + t);
    T neg = t * inv;
    return z >= 0 ? inv : neg;
}

static void FN(fm_exp_nonpositive)(T *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = FN(exp_nonpositive)(x[i]);
}

static void FN(fm_activate)(int act, T *x, size_t n)
{
    size_t i;
    const T slope = (T)FM_LEAKY_SLOPE;
    switch (act) {
    case FM_SIGMOID:
        for (i = 0; i < n; i++) x[i] = FN(sigmoid_scalar)(x[i]);
        break;
    case FM_TANH:
        for (i = 0; i < n; i++) x[i] = FN(tanh_scalar)(x[i]);
        break;
    case FM_RELU:
        /* Written so that NaN passes through (NaN < 0 is false): a relu
         * that mapped NaN to 0 would hide a diverged layer from the loss. */
        for (i = 0; i < n; i++) x[i] = x[i] < 0 ? (T)0 : x[i];
        break;
    case FM_LEAKY_RELU:
        for (i = 0; i < n; i++) {
            T neg = slope * x[i];
            x[i] = x[i] > 0 ? x[i] : neg;
        }
        break;
    case FM_EXP:
        /* Output layers only (the log link of the Poisson loss): libm, since
         * the argument may be positive and the block is narrow. */
        for (i = 0; i < n; i++) x[i] = EXP(x[i]);
        break;
    default: /* identity */
        break;
    }
}

static void FN(fm_softmax_rows)(T *x, size_t rows, size_t cols)
{
    size_t r, j;
    for (r = 0; r < rows; r++) {
        T *row = x + r * cols;
        T m = row[0];
        for (j = 1; j < cols; j++) m = row[j] > m ? row[j] : m;
        for (j = 0; j < cols; j++) row[j] -= m;
    }
    FN(fm_exp_nonpositive)(x, rows * cols);
    for (r = 0; r < rows; r++) {
        T *row = x + r * cols;
        T sum = 0;
        for (j = 0; j < cols; j++) sum += row[j];
        T inv = (T)1 / sum;
        for (j = 0; j < cols; j++) row[j] *= inv;
    }
}

/* The derivative products, the one list of them: for the activation act,
 * LOOP(SET_D) is expanded with SET_D setting dj to the delta di times the
 * derivative at the activation's output ai, and IDENTITY is what the
 * identity (and any code without a derivative here) does. Each case is its
 * own loop, so the activation is chosen once per call.
 *
 * relu is a select of two values, never a conditional store: the compiler
 * turns it into a compare-and-mask and vectorizes it (a masked store,
 * delta[a <= 0] = 0, would be a mispredicted branch per element). */
#define FM_DERIVATIVE_CASES(act, LOOP, IDENTITY)                               \
    switch (act) {                                                             \
    case FM_SIGMOID:                                                           \
        LOOP(dj = di * (ai * ((T)1 - ai)));                                    \
        break;                                                                 \
    case FM_TANH:                                                              \
        LOOP(dj = di * ((T)1 - ai * ai));                                      \
        break;                                                                 \
    case FM_RELU:                                                              \
        LOOP(dj = ai > 0 ? di : (T)0);                                         \
        break;                                                                 \
    case FM_LEAKY_RELU:                                                        \
        LOOP(T neg = slope * di; dj = ai > 0 ? di : neg);                      \
        break;                                                                 \
    case FM_EXP:                                                               \
        LOOP(dj = di * ai);                                                    \
        break;                                                                 \
    default:                                                                   \
        IDENTITY;                                                              \
        break;                                                                 \
    }

#define FM_DERIVATIVE_FLAT_LOOP(SET_D)                                         \
    for (i = 0; i < n; i++) {                                                  \
        T ai = a[i], di = delta[i], dj;                                        \
        SET_D;                                                                 \
        delta[i] = dj;                                                         \
    }

static void FN(fm_derivative_mul)(int act, const T *FM_RESTRICT a, T *FM_RESTRICT delta, size_t n)
{
    size_t i;
    const T slope = (T)FM_LEAKY_SLOPE;
    FM_DERIVATIVE_CASES(act, FM_DERIVATIVE_FLAT_LOOP, (void)0)
}
#undef FM_DERIVATIVE_FLAT_LOOP

static void FN(fm_bias_activate)(int act, T *FM_RESTRICT z, const T *FM_RESTRICT b, size_t rows,
                          size_t cols)
{
    /* The bias is added in the same pass that applies the activation, so
     * the GEMM writes with beta = 0 and the block is traversed once. */
    size_t r, j;
    const T slope = (T)FM_LEAKY_SLOPE;
    for (r = 0; r < rows; r++) {
        T *row = z + r * cols;
        switch (act) {
        case FM_SIGMOID:
            for (j = 0; j < cols; j++) row[j] = FN(sigmoid_scalar)(row[j] + b[j]);
            break;
        case FM_TANH:
            for (j = 0; j < cols; j++) row[j] = FN(tanh_scalar)(row[j] + b[j]);
            break;
        case FM_RELU:
            for (j = 0; j < cols; j++) {
                T x = row[j] + b[j];
                row[j] = x < 0 ? (T)0 : x; /* NaN passes, as in fm_activate */
            }
            break;
        case FM_LEAKY_RELU:
            for (j = 0; j < cols; j++) {
                T x = row[j] + b[j];
                T neg = slope * x;
                row[j] = x > 0 ? x : neg;
            }
            break;
        default: /* identity, and the output layer before its loss */
            for (j = 0; j < cols; j++) row[j] += b[j];
            break;
        }
    }
}

static void FN(fm_colsum)(const T *FM_RESTRICT d, size_t rows, size_t cols, size_t ld,
                          T alpha, T beta, T *FM_RESTRICT out)
{
    /* out = beta out + sum_r alpha d[r], 32 columns at a time in a local
     * block that stays in registers across the rows: accumulating in out
     * itself would chain every row's add through a store and a load. The
     * additions happen in the same order either way. */
    enum { BLOCK = 32 };
    size_t r, j, j0;
    for (j0 = 0; j0 < cols; j0 += BLOCK) {
        const size_t w = cols - j0 < BLOCK ? cols - j0 : BLOCK;
        T acc[BLOCK];
        for (j = 0; j < BLOCK; j++) acc[j] = 0;
        if (beta != 0)
            for (j = 0; j < w; j++) acc[j] = beta == 1 ? out[j0 + j] : beta * out[j0 + j];
        if (w == BLOCK) {
            for (r = 0; r < rows; r++) {
                const T *row = d + r * ld + j0;
                for (j = 0; j < BLOCK; j++) acc[j] += alpha * row[j];
            }
        } else {
            for (r = 0; r < rows; r++) {
                const T *row = d + r * ld + j0;
                for (j = 0; j < w; j++) acc[j] += alpha * row[j];
            }
        }
        for (j = 0; j < w; j++) out[j0 + j] = acc[j];
    }
}

/* The loops of fm_derivative_mul_colsum, for FM_DERIVATIVE_CASES. Four
 * rows at a time go through a register, row after row, so out is loaded
 * and stored once per four rows while the additions keep their order. */
#define FM_DERIVATIVE_COLSUM_ROWS(SET_D, NR)                                   \
    for (j = 0; j < cols; j++) {                                               \
        T acc = out[j];                                                        \
        for (size_t k = 0; k < (NR); k++) {                                    \
            size_t i = (r + k) * cols + j;                                     \
            T ai = a[i], di = delta[i], dj;                                    \
            (void)ai;                                                          \
            SET_D;                                                             \
            delta[i] = dj;                                                     \
            acc += alpha * dj;                                                 \
        }                                                                      \
        out[j] = acc;                                                          \
    }
#define FM_DERIVATIVE_COLSUM_LOOP(SET_D)                                       \
    for (r = 0; r + 4 <= rows; r += 4) FM_DERIVATIVE_COLSUM_ROWS(SET_D, 4)     \
    for (; r < rows; r++) FM_DERIVATIVE_COLSUM_ROWS(SET_D, 1)

static void FN(fm_derivative_mul_colsum)(int act, const T *FM_RESTRICT a,
                                         T *FM_RESTRICT delta, size_t rows, size_t cols,
                                         T alpha, T beta, T *FM_RESTRICT out)
{
    /* fm_derivative_mul over the block, then fm_colsum of the result, in
     * one pass: each group of four rows is summed while it is still in L1.
     * out is the accumulator, taking the rows' terms in fm_colsum's order,
     * so the sums are the same to the bit. */
    size_t r, j;
    const T slope = (T)FM_LEAKY_SLOPE;
    for (j = 0; j < cols; j++) out[j] = beta == 0 ? (T)0 : beta == 1 ? out[j] : beta * out[j];
    FM_DERIVATIVE_CASES(act, FM_DERIVATIVE_COLSUM_LOOP,
                        FM_DERIVATIVE_COLSUM_LOOP(dj = di))
}
#undef FM_DERIVATIVE_COLSUM_LOOP
#undef FM_DERIVATIVE_COLSUM_ROWS
#undef FM_DERIVATIVE_CASES

/* One row of k pre-activations minus their maximum (all <= 0 then). */
static void FN(shift_row_by_max)(T *FM_RESTRICT zr, size_t k)
{
    T m = zr[0];
    size_t j;
    for (j = 1; j < k; j++) m = zr[j] > m ? zr[j] : m;
    for (j = 0; j < k; j++) zr[j] -= m;
}

/* One row of k exponentials divided by their sum, which is returned. */
static T FN(normalize_row)(T *FM_RESTRICT zr, size_t k)
{
    T sum_e = 0;
    size_t j;
    for (j = 0; j < k; j++) sum_e += zr[j];
    T inv = (T)1 / sum_e;
    for (j = 0; j < k; j++) zr[j] *= inv;
    return sum_e;
}

static double FN(softmax_cross_entropy)(T *FM_RESTRICT z, const T *FM_RESTRICT y,
                                        T *FM_RESTRICT delta, size_t rows,
                                        size_t k, T scale)
{
    double total = 0;
    size_t r, j;
    /* Three passes so that the exponentials form one long loop with no
     * reduction in it, which the compiler vectorizes; the sums stay in
     * short per-row loops. */
    for (r = 0; r < rows; r++) {
        T *zr = z + r * k;
        const T *yr = y + r * k;
        FN(shift_row_by_max)(zr, k);
        T sum_yz = 0;
        for (j = 0; j < k; j++) sum_yz += yr[j] * zr[j];
        /* Partial loss, -sum_j y_j (z_j - m); log sum_e * sum_y is added
         * below: the log-sum-exp form, never log(0). */
        total -= (double)sum_yz;
    }
    FN(fm_exp_nonpositive)(z, rows * k);
    for (r = 0; r < rows; r++) {
        T *zr = z + r * k;
        const T *yr = y + r * k;
        T sum_y = 0;
        for (j = 0; j < k; j++) sum_y += yr[j];
        total += (double)LOG(FN(normalize_row)(zr, k)) * (double)sum_y;
        if (delta) {
            T *dr = delta + r * k;
            for (j = 0; j < k; j++) dr[j] = scale * (zr[j] * sum_y - yr[j]);
        }
    }
    return total;
}

static double FN(softmax_cross_entropy_labels)(T *FM_RESTRICT z, const T *FM_RESTRICT label,
                                               T *FM_RESTRICT delta, size_t rows,
                                               size_t k, T scale)
{
    /* softmax_cross_entropy for one-hot rows, the row's 1 at label[r]: each
     * of its sums there is exact (sum_y = 1, sum_yz = z_label - m), so the
     * same operations on what remains give the same bits, without the
     * one-hot target and its k multiplications per row. */
    double total = 0;
    size_t r, j;
    for (r = 0; r < rows; r++) {
        T *zr = z + r * k;
        FN(shift_row_by_max)(zr, k);
        total -= (double)zr[(size_t)label[r]];
    }
    FN(fm_exp_nonpositive)(z, rows * k);
    for (r = 0; r < rows; r++) {
        T *zr = z + r * k;
        size_t y = (size_t)label[r];
        total += (double)LOG(FN(normalize_row)(zr, k));
        if (delta) {
            T *dr = delta + r * k;
            for (j = 0; j < k; j++) dr[j] = scale * zr[j];
            dr[y] = scale * (zr[y] - (T)1);
        }
    }
    return total;
}

static double FN(sigmoid_binary_cross_entropy)(T *FM_RESTRICT z, const T *FM_RESTRICT y,
                                               T *FM_RESTRICT delta,
                                               size_t rows, size_t k, T scale)
{
    double total = 0;
    size_t n = rows * k;
    for (size_t i = 0; i < n; i++) {
        T zi = z[i];
        T t = FN(exp_nonpositive)(zi >= 0 ? -zi : zi); /* exp(-|z|) <= 1 */
        /* -[y log p + (1-y) log(1-p)] = softplus(z) - y z */
        T softplus = (zi > 0 ? zi : (T)0) + LOG1P(t);
        total += (double)(softplus - y[i] * zi);
        T inv = (T)1 / ((T)1 + t);
        T neg = t * inv;
        T p = zi >= 0 ? inv : neg;
        z[i] = p;
        if (delta) delta[i] = scale * (p - y[i]);
    }
    return total;
}

static double FN(squared_error)(int out_act, T *FM_RESTRICT z, const T *FM_RESTRICT y,
                                T *FM_RESTRICT delta,
                                size_t rows, size_t k, T scale)
{
    double total = 0;
    size_t n = rows * k;
    FN(fm_activate)(out_act, z, n);
    for (size_t i = 0; i < n; i++) {
        T diff = z[i] - y[i];
        total += (double)(diff * diff);
        if (delta) delta[i] = (T)2 * scale * diff;
    }
    if (delta) FN(fm_derivative_mul)(out_act, z, delta, n);
    return total;
}

static double FN(poisson_deviance)(T *FM_RESTRICT z, const T *FM_RESTRICT y,
                                   T *FM_RESTRICT delta, size_t rows, size_t k, T scale)
{
    /* Half the Poisson deviance with the log link, mu = exp(z):
     * y log(y / mu) - y + mu = y log y - y z - y + mu, with 0 log 0 = 0;
     * its derivative in z is mu - y. */
    double total = 0;
    size_t n = rows * k;
    for (size_t i = 0; i < n; i++) {
        T zi = z[i], yi = y[i];
        T mu = EXP(zi);
        T ylogy = yi > 0 ? yi * LOG(yi) : (T)0;
        total += (double)(ylogy - yi * zi - yi + mu);
        z[i] = mu;
        if (delta) delta[i] = scale * (mu - yi);
    }
    return total;
}

static double FN(output_loss_rows)(int loss, int out_act, T *z, const T *y, T *delta,
                                   size_t rows, size_t k, T scale)
{
    switch (loss) {
    case FM_CROSS_ENTROPY:
        return FN(softmax_cross_entropy)(z, y, delta, rows, k, scale);
    case FM_CROSS_ENTROPY_LABELS:
        return FN(softmax_cross_entropy_labels)(z, y, delta, rows, k, scale);
    case FM_BINARY_CROSS_ENTROPY:
        return FN(sigmoid_binary_cross_entropy)(z, y, delta, rows, k, scale);
    case FM_POISSON:
        return FN(poisson_deviance)(z, y, delta, rows, k, scale);
    default:
        return FN(squared_error)(out_act, z, y, delta, rows, k, scale);
    }
}

static double FN(fm_output_loss)(const fm_loss_spec *spec, T *z, const T *y, T *delta,
                                 size_t rows, size_t k, const T *row_weight)
{
    const int loss = spec->loss, out_act = spec->out_act;
    const T scale = (T)spec->scale;
    if (!row_weight) return FN(output_loss_rows)(loss, out_act, z, y, delta, rows, k, scale);
    /* Weighted rows (sample weights) one at a time: the per-row loss is
     * needed to weight it, and these paths are not the unweighted hot one. */
    double total = 0;
    size_t y_width = loss == FM_CROSS_ENTROPY_LABELS ? 1 : k;
    for (size_t r = 0; r < rows; r++) {
        T w = row_weight[r];
        total += (double)w * FN(output_loss_rows)(loss, out_act, z + r * k, y + r * y_width,
                                                  delta ? delta + r * k : NULL, 1, k,
                                                  scale * w);
    }
    return total;
}

static double FN(fm_sumsq)(const T *x, size_t n)
{
    /* 32 independent partial sums, one per lane of a fixed-width inner
     * loop: the compiler keeps them in vector registers, each its own
     * dependency chain, so the loop vectorizes without reassociating
     * anything (no -ffast-math) and every path adds in the same order. */
    enum { LANES = FM_SUMSQ_LANES };
    double acc[LANES];
    double s = 0;
    size_t i = 0;
    int j;
    for (j = 0; j < LANES; j++) acc[j] = 0;
    for (; i + LANES <= n; i += LANES)
        for (j = 0; j < LANES; j++) acc[j] += (double)x[i + j] * (double)x[i + j];
    for (; i < n; i++) s += (double)x[i] * x[i];
    for (j = 0; j < LANES; j++) s += acc[j];
    return s;
}

static void FN(fm_axpy)(T c, const T *FM_RESTRICT w, T *FM_RESTRICT g, size_t n)
{
    for (size_t i = 0; i < n; i++) g[i] += c * w[i];
}

static void FN(fm_scale)(T c, T *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] *= c;
}

/* 1 if x is inf or NaN (an exponent field of all ones), else 0: an integer
 * test that vectorizes, so the update passes check their results for free. */
static inline UINT FN(nonfinite_bit)(T x)
{
    const UINT exp_mask = ((((UINT)1) << (sizeof(T) * 8 - 1 - MANT_BITS)) - 1) << MANT_BITS;
    UINT bits;
    memcpy(&bits, &x, sizeof bits);
    return (UINT)((bits & exp_mask) == exp_mask);
}

#ifndef FM_UPDATE_LOOP
/* The loop of an update pass over w[0..n): STEP(i) updates element i and
 * yields the nonfinite bit of its new weight, OR-ed into bad. With
 * want_sumsq the squares of the weights before the update are summed on
 * the way into sumsq, in exactly fm_sumsq's order (FM_SUMSQ_LANES lane
 * sums over the full blocks, the tail, then the lanes), so the fused sum equals the
 * separate one bit for bit while w is read once. A macro, so that every
 * instantiation (type, instruction set) inlines its own STEP. */
#define FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP)                    \
    do {                                                                    \
        enum { LANES_ = FM_SUMSQ_LANES };                                   \
        double acc_[LANES_], s_ = 0;                                        \
        size_t i_ = 0;                                                      \
        int j_;                                                             \
        if (want_sumsq) {                                                   \
            for (j_ = 0; j_ < LANES_; j_++) acc_[j_] = 0;                   \
            for (; i_ + LANES_ <= (n); i_ += LANES_)                        \
                for (j_ = 0; j_ < LANES_; j_++) {                           \
                    acc_[j_] += (double)(w)[i_ + j_] * (double)(w)[i_ + j_]; \
                    (bad) |= STEP(i_ + j_);                                 \
                }                                                           \
            for (; i_ < (n); i_++) {                                        \
                s_ += (double)(w)[i_] * (w)[i_];                            \
                (bad) |= STEP(i_);                                          \
            }                                                               \
            for (j_ = 0; j_ < LANES_; j_++) s_ += acc_[j_];                 \
            (sumsq) = s_;                                                   \
        } else {                                                            \
            for (; i_ < (n); i_++) (bad) |= STEP(i_);                       \
        }                                                                   \
    } while (0)
#endif

/* An update pass's coefficients (fm_update_coefs) in T, each kernel's
 * own local copy made once at its top: the steps below read them through
 * a pointer to that local, which no store through w, v or g can reach, so
 * they stay in registers across the loop. c = 1 - m and c2 = 1 - b2 are
 * formed here once, as the kernels formed them before their loops. */
typedef struct {
    T lr, m, c, b2, c2, eps, l2c, gs;
} FN(step_coefs);

static inline FN(step_coefs) FN(step_coefs_of)(const fm_update_coefs *coefs)
{
    FN(step_coefs) k;
    k.lr = (T)coefs->lr;
    k.m = (T)coefs->m;
    k.c = (T)1 - k.m;
    k.b2 = (T)coefs->b2;
    k.c2 = (T)1 - k.b2;
    k.eps = (T)coefs->eps;
    k.l2c = (T)coefs->l2c;
    k.gs = (T)coefs->gs;
    return k;
}

/* fastmlp's momentum: w -= lr v, v taking the L2 term l2c w first (the
 * plain form leaves v unwritten, for the biases). */
static inline UINT FN(velocity_l2_step)(T *FM_RESTRICT w, T *FM_RESTRICT v, size_t i,
                                        const FN(step_coefs) *k)
{
    v[i] += k->l2c * w[i];
    T nw = w[i] - k->lr * v[i];
    w[i] = nw;
    return FN(nonfinite_bit)(nw);
}

static inline UINT FN(velocity_step)(T *FM_RESTRICT w, const T *FM_RESTRICT v, size_t i,
                                     const FN(step_coefs) *k)
{
    T nw = w[i] - k->lr * v[i];
    w[i] = nw;
    return FN(nonfinite_bit)(nw);
}

static double FN(fm_apply_velocity)(T *FM_RESTRICT w, T *FM_RESTRICT v, size_t n,
                                    const fm_update_coefs *coefs)
{
    /* The finiteness test of the new weights rides along the update: an
     * exponent field of all ones is inf or NaN. An integer OR-reduction
     * vectorizes, so the check is free in this memory-bound pass. */
    const FN(step_coefs) k = FN(step_coefs_of)(coefs);
    const int want_sumsq = coefs->want_sumsq;
    int *const nonfinite = coefs->nonfinite;
    UINT bad = 0;
    double sumsq = 0;
    if (k.l2c != 0) {
#define STEP(i) FN(velocity_l2_step)(w, v, i, &k)
        FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP);
#undef STEP
    } else {
#define STEP(i) FN(velocity_step)(w, v, i, &k)
        FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP);
#undef STEP
    }
    if (bad) *nonfinite = 1;
    return sumsq;
}

/* A formed gradient mixed into the velocity in the update pass itself:
 * v = m v + (1 - m) gs g (gs scales the formed sum to the step's mean),
 * then as fm_apply_velocity. One pass over w, v and g instead of a scale, a
 * mix and an update pass; each element takes the same operations in the
 * same order as those three passes. */
static inline UINT FN(mix_velocity_l2_step)(T *FM_RESTRICT w, T *FM_RESTRICT v,
                                            const T *FM_RESTRICT g, size_t i,
                                            const FN(step_coefs) *k)
{
    T gi = k->gs * g[i];
    T vi = (k->m == 0 ? gi : k->m * v[i] + k->c * gi) + k->l2c * w[i];
    v[i] = vi;
    T nw = w[i] - k->lr * vi;
    w[i] = nw;
    return FN(nonfinite_bit)(nw);
}

static inline UINT FN(mix_velocity_step)(T *FM_RESTRICT w, T *FM_RESTRICT v,
                                         const T *FM_RESTRICT g, size_t i,
                                         const FN(step_coefs) *k)
{
    T gi = k->gs * g[i];
    T vi = k->m == 0 ? gi : k->m * v[i] + k->c * gi;
    v[i] = vi;
    T nw = w[i] - k->lr * vi;
    w[i] = nw;
    return FN(nonfinite_bit)(nw);
}

static double FN(fm_mix_apply_velocity)(T *FM_RESTRICT w, T *FM_RESTRICT v,
                                        const T *FM_RESTRICT g, size_t n,
                                        const fm_update_coefs *coefs)
{
    const FN(step_coefs) k = FN(step_coefs_of)(coefs);
    const int want_sumsq = coefs->want_sumsq;
    int *const nonfinite = coefs->nonfinite;
    UINT bad = 0;
    double sumsq = 0;
    if (k.l2c != 0) {
#define STEP(i) FN(mix_velocity_l2_step)(w, v, g, i, &k)
        FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP);
#undef STEP
    } else {
#define STEP(i) FN(mix_velocity_step)(w, v, g, i, &k)
        FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP);
#undef STEP
    }
    if (bad) *nonfinite = 1;
    return sumsq;
}

static void FN(fm_gather_rows)(const T *FM_RESTRICT src, const ptrdiff_t *idx, size_t rows,
                        size_t cols, T *FM_RESTRICT dst)
{
    /* Rows are copied in 64-byte pieces, each a fixed-size memcpy that
     * compiles to vector moves (a library call per short row costs more
     * than the copy). The next row's lines are requested while this one is
     * copied: its start is random, so the hardware prefetcher would only
     * catch on after a few misses, and on rows of a few KB those misses
     * are most of the time. */
    const size_t bytes = cols * sizeof(T);
    for (size_t r = 0; r < rows; r++) {
        const unsigned char *s = (const unsigned char *)(src + (size_t)idx[r] * cols);
        unsigned char *d = (unsigned char *)(dst + r * cols);
        size_t b;
        if (r + 1 < rows) {
            const unsigned char *next = (const unsigned char *)(src + (size_t)idx[r + 1] * cols);
            for (b = 0; b < bytes; b += 64) FM_PREFETCH(next + b);
        }
        b = 0;
        for (; b + 64 <= bytes; b += 64) {
            unsigned char piece[64];
            memcpy(piece, s + b, 64);
            memcpy(d + b, piece, 64);
        }
        if (b < bytes) memcpy(d + b, s + b, bytes - b);
    }
}

/* The update rules of scikit-learn's MLP solvers, fused into one pass over
 * a layer's parameters: the gradient g arrives without its L2 term, which
 * is added here (l2c * w; 0 for biases). Both return the sum of w^2 before
 * the update when want_sumsq, and set *nonfinite when a new w is inf or
 * NaN, as fm_apply_velocity does. */

/* v = m v - lr g; w += v, or with Nesterov's momentum w += m v - lr g. */
static inline UINT FN(sgd_step)(T *FM_RESTRICT w, const T *FM_RESTRICT g, T *FM_RESTRICT v,
                                size_t i, const FN(step_coefs) *k)
{
    T gi = g[i] + k->l2c * w[i];
    T vi = k->m * v[i] - k->lr * gi;
    v[i] = vi;
    T nw = w[i] + vi;
    w[i] = nw;
    return FN(nonfinite_bit)(nw);
}

static inline UINT FN(nesterov_step)(T *FM_RESTRICT w, const T *FM_RESTRICT g,
                                     T *FM_RESTRICT v, size_t i, const FN(step_coefs) *k)
{
    T gi = g[i] + k->l2c * w[i];
    T vi = k->m * v[i] - k->lr * gi;
    v[i] = vi;
    T nw = w[i] + (k->m * vi - k->lr * gi);
    w[i] = nw;
    return FN(nonfinite_bit)(nw);
}

/* fastmlp's Nesterov rule (its velocity is an average of gradients, like
 * its momentum's): v = m v + (1 - m) g; w -= lr (m v + (1 - m) g). */
static inline UINT FN(averaged_nesterov_step)(T *FM_RESTRICT w, const T *FM_RESTRICT g,
                                              T *FM_RESTRICT v, size_t i,
                                              const FN(step_coefs) *k)
{
    T gi = g[i] + k->l2c * w[i];
    T vi = k->m * v[i] + k->c * gi;
    v[i] = vi;
    T nw = w[i] - k->lr * (k->m * vi + k->c * gi);
    w[i] = nw;
    return FN(nonfinite_bit)(nw);
}

static double FN(fm_sgd_update)(T *FM_RESTRICT w, const T *FM_RESTRICT g, T *FM_RESTRICT v,
                                size_t n, const fm_update_coefs *coefs)
{
    const FN(step_coefs) k = FN(step_coefs_of)(coefs);
    const int nesterov = coefs->nesterov, want_sumsq = coefs->want_sumsq;
    int *const nonfinite = coefs->nonfinite;
    UINT bad = 0;
    double sumsq = 0;
    if (nesterov == FM_NESTEROV_AVERAGED) {
#define STEP(i) FN(averaged_nesterov_step)(w, g, v, i, &k)
        FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP);
#undef STEP
    } else if (nesterov) {
#define STEP(i) FN(nesterov_step)(w, g, v, i, &k)
        FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP);
#undef STEP
    } else {
#define STEP(i) FN(sgd_step)(w, g, v, i, &k)
        FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP);
#undef STEP
    }
    if (bad) *nonfinite = 1;
    return sumsq;
}

/* Adam: m1 = b1 m1 + (1 - b1) g; m2 = b2 m2 + (1 - b2) g^2;
 * w -= lr_t m1 / (sqrt(m2) + eps), lr_t carrying the bias corrections
 * (b1 is the coefficients' m, lr_t their lr). */
static inline UINT FN(adam_step)(T *FM_RESTRICT w, const T *FM_RESTRICT g,
                                 T *FM_RESTRICT m1, T *FM_RESTRICT m2, size_t i,
                                 const FN(step_coefs) *k)
{
    T gi = g[i] + k->l2c * w[i];
    T a = k->m * m1[i] + k->c * gi;
    T b = k->b2 * m2[i] + k->c2 * (gi * gi);
    m1[i] = a;
    m2[i] = b;
    T nw = w[i] + (-k->lr * a) / (SQRT(b) + k->eps);
    w[i] = nw;
    return FN(nonfinite_bit)(nw);
}

static double FN(fm_adam_update)(T *FM_RESTRICT w, const T *FM_RESTRICT g, T *FM_RESTRICT m1,
                                 T *FM_RESTRICT m2, size_t n, const fm_update_coefs *coefs)
{
    const FN(step_coefs) k = FN(step_coefs_of)(coefs);
    const int want_sumsq = coefs->want_sumsq;
    int *const nonfinite = coefs->nonfinite;
    UINT bad = 0;
    double sumsq = 0;
#define STEP(i) FN(adam_step)(w, g, m1, m2, i, &k)
    FM_UPDATE_LOOP(w, n, want_sumsq, sumsq, bad, STEP);
#undef STEP
    if (bad) *nonfinite = 1;
    return sumsq;
}
