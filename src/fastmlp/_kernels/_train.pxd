# What _train shares with the other compiled module, _probes (its test and
# benchmark entry points): the reading of a spec, the bfloat16 binding of a
# call and the check of its refused products. They stay defined in _train.pyx because they read its state (the
# GEMM backend table, and the bfloat16 GEMM that bf16_install puts there);
# declared here, Cython exports them, and a module that cimports them calls
# _train's own, never a copy with a state of its own.
from cython cimport floating

from fastmlp._kernels._bf16 cimport Bf16Shadow
from fastmlp._kernels._gemm cimport GemmBackend
from fastmlp._kernels._network cimport Net


cdef struct Bf16Binding:
    # A call's own copy of the bfloat16 backend, pointing at its shadows and
    # its own record of refused products (one per call, one per fit).
    GemmBackend be
    Bf16Shadow sh


cdef int bound(Net* net, Bf16Binding* bb, floating* params, floating* work) except -1
cdef int check_products(Bf16Binding* bb) except -1
cdef Net read_spec(const Py_ssize_t[::1] spec) except *
