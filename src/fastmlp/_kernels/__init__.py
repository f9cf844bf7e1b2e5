"""Compiled kernels. Reached only through fastmlp.mlp, which validates first."""
