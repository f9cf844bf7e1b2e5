"""Compiled kernels. Reached only through fastmlp.mlp, fastmlp.training.epoch and
fastmlp.sklearn._network, which validate first."""
