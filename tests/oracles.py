"""Independent brute-force oracles: enumerate every batch, no derived formula.

These compute ``E[(I - eta H_xi) M (I - eta H_xi)]`` and its ``d^2 x d^2`` matrix
by averaging over the explicit batch distribution of a scheme. They share no code
with ``theory`` or ``sim``.
"""

import itertools

import numpy as np


def batch_distribution(n, B=None, scheme="without", p=None):
    """List of ``(probability, weights)`` with ``weights`` of shape ``(n,)``."""
    out = []
    if scheme == "without":
        subsets = list(itertools.combinations(range(n), B))
        for sub in subsets:
            w = np.zeros(n)
            w[list(sub)] = 1.0 / B
            out.append((1.0 / len(subsets), w))
    elif scheme == "with":
        draws = list(itertools.product(range(n), repeat=B))
        for draw in draws:
            w = np.bincount(draw, minlength=n) / B
            out.append((1.0 / len(draws), w))
    elif scheme == "mixture":
        for i in range(n):
            out.append((p / n, np.eye(n)[i]))
        out.append((1.0 - p, np.full(n, 1.0 / n)))
    else:
        raise ValueError(scheme)
    return out


def apply_T_bruteforce(Hs, eta, M, dist):
    d = Hs.shape[1]
    out = np.zeros((d, d))
    for prob, w in dist:
        A = np.eye(d) - eta * np.einsum("i,ijk->jk", w, Hs)
        out += prob * A @ M @ A
    return out


def operator_bruteforce(Hs, eta, dist):
    """Dense ``d^2 x d^2`` matrix acting on column-major ``vec(M)``."""
    d = Hs.shape[1]
    T = np.zeros((d * d, d * d))
    for prob, w in dist:
        A = np.eye(d) - eta * np.einsum("i,ijk->jk", w, Hs)
        T += prob * np.kron(A.T, A)
    return T


def random_psd(rng, d, rank=None, scale=1.0):
    rank = d if rank is None else rank
    G = rng.standard_normal((d, rank)) * scale
    return G @ G.T / max(rank, 1)


def crossing(f, lo, hi, tol=1e-14):
    """Bisection for the point where f crosses 1, given f(lo) <= 1 < f(hi)."""
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if f(mid) > 1:
            hi = mid
        else:
            lo = mid
        if hi - lo < tol * hi:
            break
    return 0.5 * (lo + hi)
