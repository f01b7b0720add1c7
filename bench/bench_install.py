"""What installing supatenant costs: size and distributions per extra, and import time.

    .venv/bin/python -m bench.bench_install [--wheel DIST.whl] [--rounds 5]

Builds the wheel from this checkout (unless given one), installs it into a fresh virtual
environment per variant (the base package, then each extra), and reports for each: the
distributions installed besides pip, the size of site-packages without pip, and
``import supatenant`` in a new interpreter (median wall time over ``--rounds`` runs, with
the modules it loads). Figures only; nothing here asserts a size or a speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

from supatenant import bundle

VARIANTS = ("", "supabase", "local", "fastapi")
_PROBE = (
    "import sys, time; t = time.perf_counter(); import supatenant; "
    "print(time.perf_counter() - t, len(sys.modules))"
)


def build(out: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "build",
        "--no-isolation",
        "--wheel",
        "--outdir",
        str(out),
        str(bundle.root()),
    ]
    subprocess.run(command, check=True, capture_output=True)
    return next(out.glob("*.whl"))


def site_packages(env: Path) -> Path:
    return next((env / "lib").glob("python3*/site-packages"))


def size_without_pip(folder: Path) -> int:
    skip = ("pip", "pip-")
    return sum(
        p.stat().st_size
        for p in folder.rglob("*")
        if p.is_file() and not p.relative_to(folder).parts[0].startswith(skip)
    )


def measure(wheel: Path, extra: str, rounds: int, scratch: Path) -> dict[str, object]:
    env = scratch / (extra or "base")
    venv.create(env, with_pip=True)
    python = str(env / "bin" / "python")
    target = f"{wheel}[{extra}]" if extra else str(wheel)
    subprocess.run([python, "-m", "pip", "install", "--quiet", target], check=True)
    listed = subprocess.run(
        [python, "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True
    ).stdout
    dists = [d["name"] for d in json.loads(listed) if d["name"] not in ("pip", "setuptools")]
    runs = [
        subprocess.run([python, "-c", _PROBE], check=True, capture_output=True, text=True).stdout.split()
        for _ in range(rounds)
    ]
    return {
        "variant": f"supatenant[{extra}]" if extra else "supatenant",
        "distributions": len(dists),
        "size_mb": round(size_without_pip(site_packages(env)) / 1e6, 1),
        "import_s": round(statistics.median(float(r[0]) for r in runs), 3),
        "modules": int(runs[0][1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="a built wheel (default: build one from this checkout)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        wheel = args.wheel or build(scratch / "dist")
        print(f"{'variant':<22} {'distributions':>13} {'size (MB)':>10} {'import (s)':>11} {'modules':>8}")
        for extra in VARIANTS:
            row = measure(wheel, extra, args.rounds, scratch)
            print(
                f"{row['variant']!s:<22} {row['distributions']!s:>13} {row['size_mb']!s:>10} "
                f"{row['import_s']!s:>11} {row['modules']!s:>8}"
            )


if __name__ == "__main__":
    main()
