/* float32 -> bfloat16 rounding for the bfloat16 GEMM operands
 * (_kernels/_bf16.pxd): round to nearest, ties to even, on the bits; NaN
 * stays NaN (quieted), inf stays inf, a finite value past the largest
 * bfloat16 rounds to inf, as IEEE rounding does. The same arithmetic as
 * fastmlp.reference's emulation, so both give identical bfloat16 operands.
 *
 * Branch-free on purpose: GCC and Clang vectorize the loop at -O3 (the
 * select becomes a blend), 4 lanes in baseline x86-64, 16 with AVX-512
 * (csrc/bf16_impl.h). Not VCVTNEPS2BF16: it flushes subnormal inputs to zero,
 * which is not round to nearest. */
#ifndef FASTMLP_BF16_H
#define FASTMLP_BF16_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline uint16_t fm_bf16_round_bits(uint32_t u)
{
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet_nan = (u >> 16) | 0x0040u;
    return (uint16_t) (((u & 0x7fffffffu) > 0x7f800000u) ? quiet_nan : rounded);
}

/* The float32 value of bfloat16 bits: the weights and deltas of the sparse
 * first layer's bfloat16 products (_kernels/_sparse_bf16.pxd), read one
 * element at a time from their bfloat16 copies. */
static inline float fm_bf16_widen(uint16_t b)
{
    uint32_t u = (uint32_t) b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* dst[i] = bfloat16 bits of src[i]; the loop compiled for each instruction
 * set and chosen at run time as every kernel of csrc/ is (csrc/simd.h:
 * fm_simd_active, so FASTMLP_SIMD applies here too). */
void fm_to_bf16(const float* src, uint16_t* dst, size_t n);

/* dst (rows x cols) = bfloat16 bits of the rows idx[0..rows) of src: the
 * batch gather of bfloat16 products, which writes only the copy the GEMMs
 * read (the rows' float32 values are read by nothing else). */
void fm_gather_to_bf16(const float* src, const ptrdiff_t* idx, size_t rows, size_t cols,
                       uint16_t* dst);

/* A bfloat16 GEMM the library refused (a nonzero status: oneDNN's, which
 * reports failure instead of computing): c (m x n, leading dimension ldc)
 * becomes NaN, so the failure cannot pass for a result (a fit stops at
 * that step as on divergence). The refusal itself is counted by the
 * caller, in the context of its own call (_kernels/_bf16.pxd). */
void fm_bf16_gemm_failed(float* c, int m, int n, int ldc);

/* One more refused product in a call's count, which the blocks of a
 * product running on several threads may add to at once. */
static inline void fm_count_refused(ptrdiff_t* count)
{
    __atomic_fetch_add(count, 1, __ATOMIC_RELAXED);
}

#endif
