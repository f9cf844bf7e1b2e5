/* fm_to_bf16 (csrc/bf16.h) for each instruction set, chosen at run time
 * like the elementwise kernels. */
#include <math.h>
#include <string.h>

#include "bf16.h"
#include "elementwise.h"

#define FM_BF16_BODY                                  \
    {                                                 \
        size_t i;                                     \
        for (i = 0; i < n; i++) {                     \
            uint32_t u;                               \
            memcpy(&u, src + i, sizeof u);            \
            dst[i] = fm_bf16_round_bits(u);           \
        }                                             \
    }

static void to_bf16_baseline(const float* src, uint16_t* dst, size_t n) FM_BF16_BODY

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define FM_BF16_X86 1
__attribute__((target("avx2")))
static void to_bf16_avx2(const float* src, uint16_t* dst, size_t n) FM_BF16_BODY

__attribute__((target("avx512f,avx512vl,avx512bw")))
static void to_bf16_avx512(const float* src, uint16_t* dst, size_t n) FM_BF16_BODY
#endif

void fm_to_bf16(const float* src, uint16_t* dst, size_t n)
{
#ifdef FM_BF16_X86
    int level = fm_simd_active();
    if (level == FM_SIMD_AVX512) {
        to_bf16_avx512(src, dst, n);
        return;
    }
    if (level == FM_SIMD_AVX2) {
        to_bf16_avx2(src, dst, n);
        return;
    }
#endif
    to_bf16_baseline(src, dst, n);
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
