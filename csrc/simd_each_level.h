/*
 * The kernel bodies of FM_SIMD_IMPL (a header name) compiled once per
 * instruction-set level of simd.h, with FM_ISA naming the level inside
 * them. No include guard: a file includes this once per file of bodies.
 */
#define FM_ISA baseline
#include FM_SIMD_IMPL
#undef FM_ISA

#if FM_X86_DISPATCH
FM_TARGET_BEGIN(FM_TARGET_AVX2)
#define FM_ISA avx2
#include FM_SIMD_IMPL
#undef FM_ISA
FM_TARGET_END

FM_TARGET_BEGIN(FM_TARGET_AVX512)
#define FM_ISA avx512
#include FM_SIMD_IMPL
#undef FM_ISA
FM_TARGET_END
#endif
