"""Numerical engine for linearized SGD (numpy, scipy, numba; numba.cuda optional)."""
