/*
 * One source for the float and double kernels: elementwise_impl.h is
 * included twice, with the scalar type and the libm functions bound to each
 * precision, so the two can never drift apart.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "elementwise.h"

/* The per-element loops are compiled for the baseline instruction set and,
 * where the compiler can do it portably (GCC on x86-64 ELF, via ifunc), also
 * for AVX2 and AVX-512, chosen at load time from what the CPU supports:
 * never -march=native, which would crash older CPUs. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__ELF__) && __GNUC__ >= 8
#define FM_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define FM_MULTIVERSION
#endif

#if defined(_MSC_VER)
#define FM_RESTRICT __restrict
#else
#define FM_RESTRICT restrict
#endif

#define FM_CAT2(a, b) a##_##b
#define FM_CAT(a, b) FM_CAT2(a, b)
#define FN(name) FM_CAT(name, FM_SUFFIX)

/* 1 / k!, the Taylor coefficients of exp, for k = 0..13. */
static const double fm_inverse_factorial[14] = {
    1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
    1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800,
    1.0 / 479001600, 1.0 / 6227020800.0,
};

/* Constants of exp_nonpositive (see elementwise_impl.h), per precision:
 * ln 2 split in a high part with trailing zero bits (so n * LN2_HI is exact
 * for the n that occur) and the rest; 1.5 * 2^mantissa bits, which rounds a
 * float to an integer when added and subtracted; the exponent bias and the
 * mantissa width; the smallest argument with a normal result; the degree of
 * the Taylor polynomial (its truncation error at |r| = ln2 / 2 is below half
 * an ulp: 0.347^8 / 8! = 5e-9 for float, 0.347^14 / 14! = 4e-18 for double). */
#define T float
#define FM_SUFFIX f
#define UINT uint32_t
#define LN2_HI 0.693359375f
#define LN2_LO (-2.12194440e-4f)
#define LOG2E 1.44269504088896341f
#define ROUND_MAGIC 12582912.0f
#define ROUND_MAGIC_BITS 0x4B400000u
#define EXP_BIAS 127
#define MANT_BITS 23
#define EXP_MIN_ARG (-87.3365447f)
#define EXP_DEGREE 7
#define LOG logf
#define LOG1P log1pf
#define TANH tanhf
#include "elementwise_impl.h"
#undef T
#undef FM_SUFFIX
#undef UINT
#undef LN2_HI
#undef LN2_LO
#undef LOG2E
#undef ROUND_MAGIC
#undef ROUND_MAGIC_BITS
#undef EXP_BIAS
#undef MANT_BITS
#undef EXP_MIN_ARG
#undef EXP_DEGREE
#undef LOG
#undef LOG1P
#undef TANH

#define T double
#define FM_SUFFIX d
#define UINT uint64_t
#define LN2_HI 6.93147180369123816490e-01
#define LN2_LO 1.90821492927058770002e-10
#define LOG2E 1.44269504088896338700e+00
#define ROUND_MAGIC 6755399441055744.0
#define ROUND_MAGIC_BITS 0x4338000000000000ull
#define EXP_BIAS 1023
#define MANT_BITS 52
#define EXP_MIN_ARG (-708.39641853226408)
#define EXP_DEGREE 13
#define LOG log
#define LOG1P log1p
#define TANH tanh
#include "elementwise_impl.h"
