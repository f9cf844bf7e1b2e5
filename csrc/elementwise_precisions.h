/*
 * The kernels for both precisions at one instruction-set level (FM_ISA):
 * elementwise_impl.h included once for float and once for double, with the
 * constants and libm functions of each. No include guard: elementwise.c
 * includes this once per instruction-set level.
 */
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
#define EXP expf
#define SQRT sqrtf
#define LOG1P log1pf
#define FABS fabsf
#define COPYSIGN copysignf
#include "elementwise_impl.h"
#include "elementwise_precision_end.h"

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
#define EXP exp
#define SQRT sqrt
#define LOG1P log1p
#define FABS fabs
#define COPYSIGN copysign
#include "elementwise_impl.h"
#include "elementwise_precision_end.h"
