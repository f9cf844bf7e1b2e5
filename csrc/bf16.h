/* float32 -> bfloat16 rounding for the bfloat16 GEMM operands
 * (_kernels/_bf16.pxd): round to nearest, ties to even, on the bits; NaN
 * stays NaN (quieted), inf stays inf, a finite value past the largest
 * bfloat16 rounds to inf, as IEEE rounding does. The same arithmetic as
 * fastmlp.reference's emulation, so both give identical bfloat16 operands.
 *
 * Branch-free on purpose: GCC and Clang vectorize the loop at -O3 on every
 * target (the select becomes a blend), so no SIMD dispatch is needed for a
 * pass that is only ever run on data already in cache. */
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

static inline void fm_to_bf16(const float* src, uint16_t* dst, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, sizeof u);
        dst[i] = fm_bf16_round_bits(u);
    }
}

#endif
