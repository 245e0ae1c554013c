"""Keeping native libraries' chatter off the CLI's output.

Solver backends print from C/C++ straight to file descriptors 1 and 2: HiGHS a banner when
it starts, gSCIP (OR-Tools 9.15 with SCIP 10) two harmless ``ERROR: SCIPcatchEvent ...``
lines whenever an interrupter is attached, i.e. on every cancellable solve. On stdout that
would corrupt ``--json``; on stderr it alarms users for nothing.

:func:`captured_native_output` sends both descriptors to a temporary file for the duration of
a block and hands the block a stream on the real stderr (for the progress bar); afterwards it
replays what was captured on stderr, minus the lines known to be noise. Anything else a
backend prints (a real error) is kept, only delayed to the end of the block.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from typing import TextIO

__all__ = ["KNOWN_NOISE", "captured_native_output"]

KNOWN_NOISE = re.compile(
    r"^(Running HiGHS \d"
    r"|Includes third-party software components, see THIRD_PARTY_NOTICES"
    r"|\[scip_event\.c:\d+\] ERROR: SCIPcatchEvent does not support variable or row change events"
    r"|\[gscip_event_handler\.cc:\d+\] ERROR: Error <-9> in function call)"
)


def _flush_c_stdio() -> None:
    with contextlib.suppress(OSError, AttributeError):  # no C library to flush
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def captured_native_output() -> Iterator[TextIO]:
    """Capture descriptors 1 and 2 during the block; yield a text stream on the real stderr."""
    try:
        out_fd, err_fd = sys.stdout.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # streams without descriptors (captured)
        yield sys.stderr
        return
    sys.stdout.flush()
    sys.stderr.flush()
    _flush_c_stdio()
    saved_out, saved_err = os.dup(out_fd), os.dup(err_fd)
    real_stderr = os.fdopen(os.dup(err_fd), "w", buffering=1, encoding="utf-8", errors="replace")
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), out_fd)
        os.dup2(capture.fileno(), err_fd)
        try:
            yield real_stderr
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            _flush_c_stdio()
            os.dup2(saved_out, out_fd)
            os.dup2(saved_err, err_fd)
            os.close(saved_out)
            os.close(saved_err)
            real_stderr.close()
            capture.seek(0)
            for line in capture.read().decode("utf-8", errors="replace").splitlines():
                if not KNOWN_NOISE.match(line):
                    print(line, file=sys.stderr)
