"""Native output capture: stdout stays clean, known noise is dropped, real messages kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_native_writes_are_captured_and_noise_filtered() -> None:
    script = textwrap.dedent(
        """
        import os, sys
        from designsvc.nativeio import captured_native_output
        with captured_native_output() as terminal:
            os.write(1, b"Running HiGHS 1.16.0 (git hash: x): Copyright\\n")
            os.write(2, b"[scip_event.c:305] ERROR: SCIPcatchEvent does not support variable or row change events.\\n")
            os.write(2, b"[gscip_event_handler.cc:124] ERROR: Error <-9> in function call\\n")
            os.write(1, b"a real native message\\n")
            terminal.write("progress line\\n")
        print("the result")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert proc.stdout == "the result\n"
    assert proc.stderr.splitlines() == ["progress line", "a real native message"]
