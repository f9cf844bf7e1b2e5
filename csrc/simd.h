/*
 * The one way the C kernels pick an instruction-set level at run time
 * (elementwise.c, bf16.c): a file of kernel bodies is compiled once per
 * level by simd_each_level.h, each body named FM_CAT2(name, FM_ISA), and
 * FM_SIMD_CALL calls the one of the level chosen (fm_simd_active,
 * elementwise.h: FASTMLP_SIMD or the best the CPU supports). One mechanism,
 * so that FASTMLP_SIMD and every support check hold for all of them.
 *
 * x86-64 with GCC or Clang only: elsewhere the baseline is all there is
 * (on aarch64 it is already NEON, which the architecture guarantees).
 * Target pragmas, never -march=native, which would crash older CPUs.
 */
#ifndef FASTMLP_SIMD_H
#define FASTMLP_SIMD_H

#include "elementwise.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define FM_X86_DISPATCH 1
#else
#define FM_X86_DISPATCH 0
#endif

#define FM_CAT2_(a, b) a##_##b
#define FM_CAT2(a, b) FM_CAT2_(a, b)
#define FM_CAT3_(a, b, c) a##_##b##_##c
#define FM_CAT3(a, b, c) FM_CAT3_(a, b, c)

/* The instruction sets of each level, as fm_simd_supported checks them. */
#define FM_TARGET_AVX2 "avx2,fma"
#define FM_TARGET_AVX512 "avx512f,avx512vl,avx512dq,avx512bw,avx2,fma"

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

#define FM_SIMD_CALL(level, name, args)                                    \
    ((level) == FM_SIMD_AVX512 ? FM_CAT2(name, avx512) args :              \
     (level) == FM_SIMD_AVX2   ? FM_CAT2(name, avx2) args :                \
                                 FM_CAT2(name, baseline) args)
#else
#define FM_SIMD_CALL(level, name, args) FM_CAT2(name, baseline) args
#endif

#endif
