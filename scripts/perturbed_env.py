"""Print the environment that perturbs the numerics, as ``NAME=value`` words for ``env``.

Used by ``make test-portable`` (nbval over every chapter a second time): stored outputs must be
reproduced when the floating-point operations run in another order and width, as they do on
another CPU. This switches off numpy's widest SIMD kernels on this machine and runs BLAS, OpenMP
and TensorFlow on one thread:

- ``NPY_DISABLE_CPU_FEATURES``: every SIMD level numpy dispatches to on this CPU, except the
  lowest one it found (on an AVX-512 machine: X86_V4 and AVX512_*; on an AVX2-only machine:
  X86_V3, so numpy falls back to its baseline). Empty when numpy found no dispatch level.
- ``OPENBLAS_NUM_THREADS=1``, ``OMP_NUM_THREADS=1``, ``TF_NUM_INTRAOP_THREADS=1``,
  ``TF_NUM_INTEROP_THREADS=1``.

``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` are never set or changed: some machines need them
as they are. Run it with the course's Python (``.venv/bin/python scripts/perturbed_env.py``).
"""

from __future__ import annotations

import sys


def perturbed_environment() -> dict[str, str]:
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__

    found = [name for name in __cpu_dispatch__ if __cpu_features__.get(name)]
    # __cpu_dispatch__ lists the levels from the narrowest to the widest: keep the first found.
    disabled = found[1:] if len(found) > 1 else found
    return {
        "NPY_DISABLE_CPU_FEATURES": " ".join(disabled),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "TF_NUM_INTRAOP_THREADS": "1",
        "TF_NUM_INTEROP_THREADS": "1",
    }


def main() -> int:
    env = perturbed_environment()
    # Shell words for `env`: quoted, since NPY_DISABLE_CPU_FEATURES holds spaces.
    sys.stdout.write(" ".join(f"{k}='{v}'" for k, v in env.items()) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
