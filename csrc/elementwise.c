/*
 * One source for the float and double kernels: elementwise_impl.h is
 * included twice, with the scalar type and the libm functions bound to each
 * precision, so the two can never drift apart.
 */
#include <math.h>
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
