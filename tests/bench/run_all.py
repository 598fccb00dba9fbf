"""Run every benchmark in this directory (bench_*.py), one after the other.

    .venv/bin/python tests/bench/run_all.py [NAME ...]

With names (for example `io relay`), only bench_io.py and bench_relay.py run. Each script
runs in its own process with this Python, prints its own figures (each as a ratio against a
baseline it measures in the same run) and exits non-zero when it misses a target. At the
end a summary lists every script with its time and result; the exit code is 1 if any
script failed.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Options given to a script (the others run with their own defaults). bench_many.py: 16
#: consoles for 60 s, alone then together, on SQLite and on PostgreSQL (about 8 minutes).
OPTIONS = {"bench_many.py": ["--consoles", "16", "--seconds", "60", "--engine", "both"]}


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        wanted = {a.removeprefix("bench_").removesuffix(".py") for a in argv}
        unknown = wanted - {s.stem.removeprefix("bench_") for s in scripts}
        if unknown:
            print(f"no benchmark named {', '.join(sorted(unknown))}; there are: "
                  f"{', '.join(s.stem.removeprefix('bench_') for s in scripts)}", file=sys.stderr)
            return 2
        scripts = [s for s in scripts if s.stem.removeprefix("bench_") in wanted]
    if not scripts:
        print(f"no bench_*.py in {HERE}", file=sys.stderr)
        return 1
    results = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        rc = subprocess.run([sys.executable, str(script), *OPTIONS.get(script.name, [])],
                            cwd=HERE.parent.parent, check=False).returncode
        results.append((script.name, rc, time.perf_counter() - start))
    print("\n=== summary ===")
    for name, rc, seconds in results:
        print(f"{name:<28} {'ok' if rc == 0 else f'FAILED (exit {rc})':<18} {seconds:7.1f} s")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
