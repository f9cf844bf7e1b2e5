/*
 * Ends one precision's instantiation in elementwise_precisions.h: forgets
 * its type, constants and libm functions. No include guard.
 */
#undef T
#undef FM_SUFFIX
#undef UINT
#undef LN2_HI
#undef LN2_LO
#undef LOG2E
#undef ROUND_MAGIC
#undef ROUND_MAGIC_BITS
#undef EXP_BIAS
#undef MANT_BITS
#undef EXP_MIN_ARG
#undef EXP_DEGREE
#undef LOG
#undef EXP
#undef SQRT
#undef LOG1P
#undef FABS
#undef COPYSIGN
