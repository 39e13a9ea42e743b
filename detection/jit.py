"""Loops compiled by numba, which is imported on first use only.

numba adds about 60 MB to a process; only processes that detect changes need it (not the web app,
not the job queue). Compiled code is cached on disk, so a new worker loads it instead of
compiling it.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, wraps
from typing import Any


def compile_loop(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` compiled now (no Python objects inside, no bounds checks, the GIL released)."""
    import numba

    return numba.njit(cache=True, nogil=True, boundscheck=False)(fn)  # type: ignore[no-any-return]


def compiled(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` compiled on its first call (see :func:`compile_loop`)."""
    build = lru_cache(maxsize=1)(lambda: compile_loop(fn))

    @wraps(fn)
    def call(*args: Any) -> Any:
        return build()(*args)

    return call
