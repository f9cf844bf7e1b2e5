# What _train shares with the other compiled module, _probes (its test and
# benchmark entry points): the reading of a spec, the bfloat16 binding of a
# call and the check of its refused products, and the C kernels the probes
# run (the elementwise kernels on one array, the bfloat16 copy of a chunk
# of input rows). They stay defined in _train.pyx because they read its
# state (the GEMM backend table, and the bfloat16 GEMM that bf16_install
# puts there; the C kernels' record of the instruction-set path that
# simd_select sets); declared here, Cython exports them, and a module that
# cimports them calls _train's own, never a copy with a state of its own.
# So the C is compiled into _train alone.
from cython cimport floating

from fastmlp._kernels._bf16 cimport Bf16Shadow
from fastmlp._kernels._gemm cimport GemmBackend
from fastmlp._kernels._network cimport Net


cdef struct Binding:
    # A call's own copy of its GEMM backend (one per call, one per fit):
    # the threads it runs on, and with bfloat16 products its shadows and its
    # own record of refused products.
    GemmBackend be
    Bf16Shadow sh


cdef int bound(Net* net, Binding* bb, floating* params, floating* work,
               void* pool) except -1
cdef int check_products(Binding* bb) except -1
cdef Net read_spec(const Py_ssize_t[::1] spec) except *
cdef void activate_array(int act, floating* x, size_t n) noexcept nogil
cdef void derivative_mul_array(int act, const floating* a, floating* delta,
                               size_t n) noexcept nogil
cdef void exp_nonpositive_array(floating* x, size_t n) noexcept nogil
cdef void bind_input(const GemmBackend* be, const floating* x, size_t n) noexcept nogil
