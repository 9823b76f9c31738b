"""Run every benchmark of this folder with ``--smoke`` (tiny sizes), so that none rots.

Each ``benchmarks/*.py`` script (not this runner, not ``_*.py`` helpers) runs in its own
process with ``--smoke``; its output is shown when it fails. The exit status is 1 when
any script failed or ran past ``--timeout`` seconds, else 0. Timings are printed, never
checked.

Usage::

    python benchmarks/run_smoke.py
    python benchmarks/run_smoke.py --only training_speed gpu
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def scripts(only: list[str] | None = None) -> list[Path]:
    """The benchmark scripts of this folder, in name order."""
    found = [
        path
        for path in sorted(HERE.glob("*.py"))
        if not path.name.startswith("_") and path.name != Path(__file__).name
    ]
    if only:
        found = [path for path in found if path.stem in only]
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", help="script names (without .py) to run")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per script")
    args = parser.parse_args()
    failures = []
    for path in scripts(args.only):
        start = time.perf_counter()
        try:
            result = subprocess.run(
                [sys.executable, str(path), "--smoke"],
                capture_output=True,
                text=True,
                timeout=args.timeout,
                cwd=HERE.parent,
            )
            status = "ok" if result.returncode == 0 else f"failed ({result.returncode})"
            output = result.stdout + result.stderr
        except subprocess.TimeoutExpired as error:
            status = f"timed out ({args.timeout:.0f} s)"
            output = (error.stdout or b"").decode() + (error.stderr or b"").decode()
        seconds = time.perf_counter() - start
        print(f"{path.name:<28} {status:<20} {seconds:6.1f} s", flush=True)
        if status != "ok":
            failures.append(path.name)
            print("    " + output.strip().replace("\n", "\n    "), flush=True)
    if failures:
        print(f"\n{len(failures)} benchmark(s) failed with --smoke: {', '.join(failures)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
