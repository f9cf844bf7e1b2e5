/*
 * The float32 -> bfloat16 loop at one instruction-set level (FM_ISA, see
 * simd.h): plain and branch-free (fm_bf16_round_bits), so that each level's
 * compilation vectorizes it. No include guard: bf16.c includes it once
 * per level.
 */
static void FM_CAT2(to_bf16, FM_ISA)(const float* src, uint16_t* dst, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, sizeof u);
        dst[i] = fm_bf16_round_bits(u);
    }
}
