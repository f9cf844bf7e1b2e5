/*
 * The elementwise kernels, compiled once per instruction-set level and
 * dispatched at run time, and the run-time selection of the level itself
 * (fm_simd_*), which every kernel of csrc/ dispatched by simd.h follows.
 *
 * elementwise_impl.h holds each kernel once, written as plain loops the
 * compiler vectorizes; elementwise_precisions.h instantiates it for float
 * and double; simd_each_level.h compiles that for the portable baseline
 * and, on x86-64 with GCC or Clang, for AVX2+FMA and AVX-512. The public
 * fm_*_f / fm_*_d functions of elementwise.h call the level chosen by
 * fm_simd_select: by default the best one the CPU supports, or the one
 * FASTMLP_SIMD names (the Cython layer reads it).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "elementwise.h"
#include "simd.h"

#if defined(_MSC_VER)
#define FM_RESTRICT __restrict
#else
#define FM_RESTRICT restrict
#endif

/* Lane sums of every sum of squares (fm_sumsq and the update passes that
 * sum on the way): one constant, since both must add in the same order. */
#define FM_SUMSQ_LANES 32

/* A hint to fetch a cache line for reading; nothing where unsupported. */
#if defined(__GNUC__) || defined(__clang__)
#define FM_PREFETCH(p) __builtin_prefetch((p), 0, 3)
#else
#define FM_PREFETCH(p) ((void)(p))
#endif

/* Name of a kernel at the current precision and level, inside the impl. */
#define FN(name) FM_CAT3(name, FM_SUFFIX, FM_ISA)

/* 1 / k!, the Taylor coefficients of exp, for k = 0..14. */
static const double fm_inverse_factorial[15] = {
    1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
    1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800,
    1.0 / 479001600, 1.0 / 6227020800.0, 1.0 / 87178291200.0,
};

#define FM_SIMD_IMPL "elementwise_precisions.h"
#include "simd_each_level.h"
#undef FM_SIMD_IMPL

/* ---- run-time selection ---- */

static int fm_simd_level = -1; /* -1: not chosen yet, use the best */

/* Each level's checks are the instruction sets of its FM_TARGET_* (simd.h). */
int fm_simd_supported(int level)
{
    if (level == FM_SIMD_BASELINE) return 1;
#if FM_X86_DISPATCH
    __builtin_cpu_init();
    if (level == FM_SIMD_AVX2)
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (level == FM_SIMD_AVX512)
        return fm_simd_supported(FM_SIMD_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512bw");
#endif
    return 0;
}

int fm_simd_best(void)
{
    if (fm_simd_supported(FM_SIMD_AVX512)) return FM_SIMD_AVX512;
    if (fm_simd_supported(FM_SIMD_AVX2)) return FM_SIMD_AVX2;
    return FM_SIMD_BASELINE;
}

int fm_simd_select(int level)
{
    if (!fm_simd_supported(level)) return -1;
    fm_simd_level = level;
    return 0;
}

int fm_simd_active(void)
{
    if (fm_simd_level < 0) fm_simd_level = fm_simd_best();
    return fm_simd_level;
}

/* The level is read as set: _train chose it at import (fm_simd_active). */
#define FM_CALL(name, args) FM_SIMD_CALL(fm_simd_level, FM_CAT2(name, FM_SUFFIX), args)

#define T float
#define FM_SUFFIX f
#include "elementwise_dispatch.h"
#undef T
#undef FM_SUFFIX

#define T double
#define FM_SUFFIX d
#include "elementwise_dispatch.h"
#undef T
#undef FM_SUFFIX
