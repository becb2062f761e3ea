"""Shared plumbing for the warehouse: where PostgreSQL is, project paths, the `python -m warehouse` CLI."""

import os

# One BLAS thread: the CLV fits' vector products are short, and threaded OpenBLAS on a 2-core machine
# shared with PostgreSQL made their timings swing 10-50x (clv/bench.py). Set before numpy is imported
# by anything that imports this package first; a value in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
