"""The sandwich average ``S(M) = (1/n) sum_i G_i (G_i^T M G_i) G_i^T`` on a PyTorch
device: the GEMM-bound core of one application of ``T`` (``docs/theory.md``,
section 12), for :func:`sim.exact_threshold` and :func:`sim.eta_exact` with
``device=``.

Design:

- **What runs on the device.** Only the two large GEMMs and the ``n`` small batched
  products of each application: ``M G`` (``r x r`` by ``r x n K``),
  ``Y_i = G_i^T (M G)_i`` (``n`` products ``K x r`` by ``r x K``), ``W_i = G_i Y_i``
  and ``W G^T`` (``r x n K`` by ``n K x r``), ``4 r^2 n K`` flops in all. They are
  cuBLAS calls through torch: numba.cuda kernels would be the project's own GEMMs,
  far slower than the vendor's, so the numba.cuda code stays with the Monte Carlo
  simulator, where each thread runs one path.
- **Memory.** The factors ``G`` (``r x n K``) are copied to the device once and stay
  there; per application the device holds ``M``, ``M G``, ``W`` and the result:
  ``3 r n K + 2 r^2`` numbers (4 GB at ``r = n K = 10^4`` in float64, against the
  H200's 139 GiB).
- **Transfers.** The Lanczos vectors stay on the host (three of them, packed, with the
  checkpoint), so each application moves ``M`` in and ``S(M)`` out: ``2 r^2`` doubles,
  1.6 GB at ``r = 10^4``, about 0.1 s over PCIe 5 against 4e12 flops, about 0.1 s at
  the H200's float64 tensor-core rate. Keeping the vectors on the device would save
  the transfers; the host copy is what makes the checkpoint and the CPU fallback the
  same code.
- **Precision.** float64 throughout: the solver's stopping rule (``tol = 1e-10``) is
  below float32's resolution.
- **Fallback.** ``device="cpu"`` runs the same torch code on the CPU (what the tests
  run on a machine without a GPU); ``device=None`` is the numpy path of
  :func:`sim.moments.sandwich_average`. A CUDA device where torch sees none is a
  ``ValueError`` naming ``device``; no torch is an ``ImportError`` naming the extra.

Imports torch only when called (``import sim`` never does).
"""

from __future__ import annotations

import numpy as np


def torch_module():
    """``torch``, or an ``ImportError`` naming the optional extra."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError("device= needs PyTorch, an optional extra: "
                          "pip install -e \".[torch]\"") from exc
    return torch


def check_device(device):
    """``None`` (numpy) or a ``torch.device`` that exists here; ``ValueError``/``TypeError``
    naming ``device`` otherwise."""
    if device is None:
        return None
    torch = torch_module()
    if not isinstance(device, str | torch.device):
        raise TypeError(f"device must be None, a string such as 'cpu' or 'cuda', or a "
                        f"torch.device, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"device: {exc}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {str(dev)!r} asked for, but torch sees no CUDA device "
                             "here (use device='cpu' or None)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"device: {str(dev)!r} does not exist (torch sees "
                             f"{torch.cuda.device_count()} CUDA devices)")
    elif dev.type != "cpu":
        raise ValueError(f"device must be 'cpu' or a CUDA device, got {str(dev)!r}")
    elif dev.index not in (None, 0):
        raise ValueError(f"device: {str(dev)!r} does not exist (the CPU is 'cpu')")
    return dev


class DeviceSandwich:
    """``M -> (1/n) sum_i G_i (G_i^T M G_i) G_i^T`` for the factors ``G`` (``(n, d, k)``)
    of an ensemble, with the factors held on ``device`` (see the module docstring).

    Calls take and return float64 numpy ``(d, d)`` arrays; ``nbytes`` is the device
    memory the factors and one application take."""

    def __init__(self, G: np.ndarray, device):
        torch = torch_module()
        self.device = check_device(device)
        if self.device is None:
            raise ValueError("device: DeviceSandwich needs a device ('cpu' or 'cuda')")
        n, d, k = G.shape
        self.n, self.d, self.k = n, d, k
        stacked = np.ascontiguousarray(np.asarray(G, dtype=np.float64).transpose(1, 0, 2))
        self._G = torch.from_numpy(stacked.reshape(d, n * k)).to(self.device)
        self._torch = torch
        self.nbytes = 8 * (3 * d * n * k + 2 * d * d + n * k * k)

    def __call__(self, M: np.ndarray) -> np.ndarray:
        torch = self._torch
        n, d, k = self.n, self.d, self.k
        with torch.no_grad():
            Mt = torch.from_numpy(np.ascontiguousarray(M, dtype=np.float64)).to(self.device)
            MG = (Mt @ self._G).view(d, n, k)  # M G_i in column block i
            G3 = self._G.view(d, n, k)
            Y = torch.einsum("dia,dib->iab", G3, MG)  # (n, k, k): G_i^T M G_i
            del MG
            W = torch.einsum("dia,iab->dib", G3, Y).reshape(d, n * k)  # G_i Y_i
            out = (W @ self._G.T) / n
            return out.cpu().numpy()


__all__ = ["DeviceSandwich", "check_device", "torch_module"]
