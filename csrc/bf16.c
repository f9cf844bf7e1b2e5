/* The bfloat16 conversions of csrc/bf16.h: fm_to_bf16's loop compiled for
 * each instruction-set level and chosen at run time by the one mechanism of
 * csrc/simd.h, as the elementwise kernels are (FASTMLP_SIMD applies). */
#include <math.h>
#include <string.h>

#include "bf16.h"
#include "simd.h"

#define FM_SIMD_IMPL "bf16_impl.h"
#include "simd_each_level.h"
#undef FM_SIMD_IMPL

void fm_to_bf16(const float* src, uint16_t* dst, size_t n)
{
    int level = fm_simd_active();
    FM_SIMD_CALL(level, to_bf16, (src, dst, n));
}

void fm_gather_to_bf16(const float* src, const ptrdiff_t* idx, size_t rows, size_t cols,
                       uint16_t* dst)
{
    for (size_t r = 0; r < rows; r++) {
        /* The next row starts anywhere: ask for its first lines now. */
        if (r + 1 < rows) {
            const char* next = (const char*)(src + (size_t)idx[r + 1] * cols);
#if defined(__GNUC__) || defined(__clang__)
            for (size_t b = 0; b < cols * sizeof(float) && b < 512; b += 64)
                __builtin_prefetch(next + b, 0, 3);
#else
            (void)next;
#endif
        }
        fm_to_bf16(src + (size_t)idx[r] * cols, dst + r * cols, cols);
    }
}

void fm_bf16_gemm_failed(float* c, int m, int n, int ldc)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] = NAN;
}
