"""Data-parallel training over MPI (README: "Training on many cores and machines").

    OPENBLAS_NUM_THREADS=1 mpiexec -n 4 python -m mpi4py examples/train_mpi.py

reads data.npy (features, then a 0/1 label column) from the current directory
and writes model.fastmlp there.
"""
import numpy as np
from mpi4py import MPI
import fastmlp

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
# Each rank loads only its own rows (here: a memory-mapped block of one file).
data = np.load("data.npy", mmap_mode="r")
lo, hi = len(data) * rank // size, len(data) * (rank + 1) // size
X, y = np.array(data[lo:hi, :-1]), np.array(data[lo:hi, -1])

net = fastmlp.MLP([X.shape[1], 64, 2], loss="cross_entropy", seed=0)
net.fit(X, y, epochs=5, batch_size=64, lr=0.05, comm=comm, verbose=True)  # prints on rank 0
if rank == 0:
    net.save("model.fastmlp")
