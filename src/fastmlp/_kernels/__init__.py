"""Compiled kernels. Reached only through fastmlp.mlp, fastmlp._epoch and
fastmlp.sklearn._network, which validate first."""
