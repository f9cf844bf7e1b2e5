/*
 * The public kernels of elementwise.h for one precision (T, FM_SUFFIX): each
 * forwards to the instruction-set level chosen in elementwise.c. Included
 * once per precision; no include guard.
 */
#define PUB(name) FM_CAT2(name, FM_SUFFIX)

void PUB(fm_exp_nonpositive)(T *x, size_t n)
{
    FM_CALL(fm_exp_nonpositive, (x, n));
}

void PUB(fm_activate)(int act, T *x, size_t n)
{
    FM_CALL(fm_activate, (act, x, n));
}

void PUB(fm_softmax_rows)(T *x, size_t rows, size_t cols)
{
    FM_CALL(fm_softmax_rows, (x, rows, cols));
}

void PUB(fm_derivative_mul)(int act, const T *a, T *delta, size_t n)
{
    FM_CALL(fm_derivative_mul, (act, a, delta, n));
}

void PUB(fm_bias_activate)(int act, T *z, const T *b, size_t rows, size_t cols)
{
    FM_CALL(fm_bias_activate, (act, z, b, rows, cols));
}

void PUB(fm_colsum)(const T *d, size_t rows, size_t cols, size_t ld, T alpha, T beta,
                    T *out)
{
    FM_CALL(fm_colsum, (d, rows, cols, ld, alpha, beta, out));
}

void PUB(fm_derivative_mul_colsum)(int act, const T *a, T *delta, size_t rows, size_t cols,
                                   T alpha, T beta, T *out)
{
    FM_CALL(fm_derivative_mul_colsum, (act, a, delta, rows, cols, alpha, beta, out));
}

double PUB(fm_output_loss)(const fm_loss_spec *spec, T *z, const T *y, T *delta, size_t rows,
                           size_t k, const T *row_weight)
{
    return FM_CALL(fm_output_loss, (spec, z, y, delta, rows, k, row_weight));
}

double PUB(fm_sumsq)(const T *x, size_t n)
{
    return FM_CALL(fm_sumsq, (x, n));
}

void PUB(fm_axpy)(T c, const T *w, T *g, size_t n)
{
    FM_CALL(fm_axpy, (c, w, g, n));
}

void PUB(fm_scale)(T c, T *x, size_t n)
{
    FM_CALL(fm_scale, (c, x, n));
}

double PUB(fm_apply_velocity)(T *w, T *v, size_t n, const fm_update_coefs *c)
{
    return FM_CALL(fm_apply_velocity, (w, v, n, c));
}

double PUB(fm_mix_apply_velocity)(T *w, T *v, const T *g, size_t n, const fm_update_coefs *c)
{
    return FM_CALL(fm_mix_apply_velocity, (w, v, g, n, c));
}

void PUB(fm_gather_rows)(const T *src, const ptrdiff_t *idx, size_t rows, size_t cols,
                         T *dst)
{
    FM_CALL(fm_gather_rows, (src, idx, rows, cols, dst));
}

double PUB(fm_sgd_update)(T *w, const T *g, T *v, size_t n, const fm_update_coefs *c)
{
    return FM_CALL(fm_sgd_update, (w, g, v, n, c));
}

double PUB(fm_adam_update)(T *w, const T *g, T *m1, T *m2, size_t n, const fm_update_coefs *c)
{
    return FM_CALL(fm_adam_update, (w, g, m1, m2, n, c));
}

#undef PUB
