"""OpenMP's threads sleep between numba's parallel kernels instead of spinning.

numba runs its parallel kernels (deskew, IDM, tangent distance) on OpenMP threads, which by
default spin for a while after each parallel region, waiting for the next. One drawing calls a
dozen short kernels, and the app reads it beside other work — the web server, other requests,
other programs — which the spinning threads keep off the cores: on this project's two-core
machine under load, one drawing's model time fell about threefold and its CPU time by half with
sleeping threads, and batches gained too (``benchmarks/wait_policy.py``). Waking a sleeping
thread costs microseconds.

The package imports this module first, before numba starts OpenMP (the policy is read once,
then); a policy the user set wins.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
