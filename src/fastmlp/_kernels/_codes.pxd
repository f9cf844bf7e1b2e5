# The kernels' own constants, defined once: the spec array's header
# positions, the update rules, the status codes of a training run and the
# columns of the statistics table. Activation and loss codes are the C
# enums of csrc/elementwise.h. _train.pyx publishes them to Python by name
# (RULE_CODES, STATUS_*, STAT_COLUMNS, ACTIVATION_CODES, LOSS_CODES), so no
# Python module repeats a number; the spec header's positions it does not
# publish: the spec is made (make_spec) and read by the kernels alone.

# Positions in the header of the spec array (filled by make_spec, _train.pyx;
# read by net_from_spec, _network.pxd; never seen by Python).
cdef enum:
    SPEC_LAYERS = 0
    SPEC_LOSS = 1
    SPEC_N_WEIGHTS = 2
    SPEC_N_PARAMS = 3
    SPEC_CHUNK_ROWS = 4
    SPEC_OFF_DELTA_A = 5
    SPEC_OFF_DELTA_B = 6
    SPEC_OFF_XBUF = 7
    SPEC_OFF_YBUF = 8
    SPEC_OFF_WBUF = 9
    SPEC_WORK_SIZE = 10
    SPEC_FIRST_W_T = 11
    SPEC_GEMM = 12
    SPEC_OFF_BF16 = 13     # the workspace's bfloat16 region (_bf16.pxd), if any
    SPEC_HEADER = 14

# Update rules of an epoch.
cdef enum:
    RULE_MOMENTUM = 0   # fastmlp: v = m v + (1 - m) g; w -= lr v
    RULE_SGD = 1        # scikit-learn: v = m v - lr g; w += v
    RULE_NESTEROV = 2   # scikit-learn: v = m v - lr g; w += m v - lr g
    RULE_ADAM = 3       # scikit-learn's Adam, bias-corrected step size
    RULE_AVERAGED_NESTEROV = 4  # fastmlp: v = m v + (1 - m) g; w -= lr (m v + (1 - m) g)
    RULE_ADAM_CORRECTED = 5     # fastmlp's Adam: eps added to sqrt of the corrected m2
    N_RULES = 6

# What a run of training steps ended with.
cdef enum:
    STATUS_OK = 0
    STATUS_NONFINITE_LOSS = 1     # a step's objective was not finite; not taken
    STATUS_NONFINITE_PARAMS = 2   # a step's update made a parameter inf or NaN
    STATUS_REDUCE_FAILED = 3      # the reduction across processes returned an error

# GEMM backends (the tables of _gemm.pxd).
cdef enum:
    GEMM_OPENBLAS = 0
    GEMM_BF16 = 1       # float32 products with bfloat16 operands (MKL, _bf16.pxd)
    N_GEMM = 2

# Columns of the table layer_statistics fills.
cdef enum:
    STAT_PRE_MEAN = 0
    STAT_PRE_VAR = 1
    STAT_ACT_MEAN = 2
    STAT_ACT_VAR = 3
    STAT_INACTIVE = 4
    STAT_DELTA_VAR = 5
    STAT_GRAD_VAR = 6
    N_STATS = 7
