/*
 * The elementwise kernels, compiled once per instruction-set level and
 * dispatched at run time.
 *
 * elementwise_impl.h holds each kernel once, written as plain loops the
 * compiler vectorizes; elementwise_precisions.h instantiates it for float
 * and double; this file instantiates that for the portable baseline and, on
 * x86-64 with GCC or Clang, for AVX2+FMA and AVX-512 through target pragmas
 * (never -march=native, which would crash older CPUs). The public fm_*_f /
 * fm_*_d functions of elementwise.h call the level chosen by
 * fm_simd_select: by default the best one the CPU supports, or the one
 * FASTMLP_SIMD names (the Cython layer reads it). On aarch64 the baseline
 * is already NEON, which the architecture guarantees.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "elementwise.h"

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

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FM_X86_DISPATCH 1
#else
#define FM_X86_DISPATCH 0
#endif

#define FM_CAT2_(a, b) a##_##b
#define FM_CAT2(a, b) FM_CAT2_(a, b)
#define FM_CAT3_(a, b, c) a##_##b##_##c
#define FM_CAT3(a, b, c) FM_CAT3_(a, b, c)
/* Name of a kernel at the current precision and level, inside the impl. */
#define FN(name) FM_CAT3(name, FM_SUFFIX, FM_ISA)

/* 1 / k!, the Taylor coefficients of exp, for k = 0..14. */
static const double fm_inverse_factorial[15] = {
    1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040,
    1.0 / 40320, 1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800,
    1.0 / 479001600, 1.0 / 6227020800.0, 1.0 / 87178291200.0,
};

#define FM_ISA baseline
#include "elementwise_precisions.h"
#undef FM_ISA

#if FM_X86_DISPATCH
#define FM_STR(x) #x
#if defined(__clang__)
#define FM_TARGET_BEGIN(isa) \
    _Pragma(FM_STR(clang attribute push(__attribute__((target(isa))), apply_to = function)))
#define FM_TARGET_END _Pragma("clang attribute pop")
#else
#define FM_TARGET_BEGIN(isa) _Pragma("GCC push_options") _Pragma(FM_STR(GCC target(isa)))
#define FM_TARGET_END _Pragma("GCC pop_options")
#endif

FM_TARGET_BEGIN("avx2,fma")
#define FM_ISA avx2
#include "elementwise_precisions.h"
#undef FM_ISA
FM_TARGET_END

FM_TARGET_BEGIN("avx512f,avx512vl,avx512dq,avx512bw,avx2,fma")
#define FM_ISA avx512
#include "elementwise_precisions.h"
#undef FM_ISA
FM_TARGET_END
#endif /* FM_X86_DISPATCH */

/* ---- run-time selection ---- */

static int fm_simd_level = -1; /* -1: not chosen yet, use the best */

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

#if FM_X86_DISPATCH
#define FM_CALL(name, args)                                                        \
    (fm_simd_level == FM_SIMD_AVX512 ? FM_CAT3(name, FM_SUFFIX, avx512) args :     \
     fm_simd_level == FM_SIMD_AVX2   ? FM_CAT3(name, FM_SUFFIX, avx2) args :       \
                                       FM_CAT3(name, FM_SUFFIX, baseline) args)
#else
#define FM_CALL(name, args) FM_CAT3(name, FM_SUFFIX, baseline) args
#endif

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
