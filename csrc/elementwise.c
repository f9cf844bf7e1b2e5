/*
 * One source for the float and double kernels: elementwise_impl.h is
 * included twice, with the scalar type and the libm functions bound to each
 * precision, so the two can never drift apart.
 */
#include <math.h>
#include <string.h>

#include "elementwise.h"

#if defined(_MSC_VER)
#define FM_RESTRICT __restrict
#else
#define FM_RESTRICT restrict
#endif

#define FM_CAT2(a, b) a##_##b
#define FM_CAT(a, b) FM_CAT2(a, b)
#define FN(name) FM_CAT(name, FM_SUFFIX)

#define T float
#define FM_SUFFIX f
#define EXP expf
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#include "elementwise_impl.h"
#undef T
#undef FM_SUFFIX
#undef EXP
#undef LOG
#undef LOG1P
#undef TANH

#define T double
#define FM_SUFFIX d
#define EXP exp
#define LOG log
#define LOG1P log1p
#define TANH tanh
#include "elementwise_impl.h"
