"""Benchmark: the runtime install, `pip install .` in a fresh venv: its time, its size, and no TensorFlow.

Usage: .venv/bin/python benchmarks/bench_install.py [--extra train] [--keep DIR]

Creates a new virtual environment with the Python running this script,
installs this checkout into it (without an extra, or with --extra), and
prints: seconds to install (pip's cache is used, as on a machine that has
installed anything before: pass --no-cache for a cold one), the venv's size
on disk, the largest packages in it, whether TensorFlow, Keras and matplotlib
are installed, and whether the installed `digitwatch classify` reads the
digits of a few MNIST PNGs right. Needs PyPI (or a mirror pip is set up for).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_folders import label_of, mnist_pngs

PROJECT = Path(__file__).resolve().parent.parent
TRAINING_PACKAGES = ("tensorflow", "tensorflow-cpu", "keras", "matplotlib")


def folder_mb(folder: Path) -> float:
    """Bytes on disk under a folder, in MB (files only, links not followed)."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink()) / 1e6


def installed(python: Path) -> dict[str, str]:
    """Every distribution in the environment of `python`, name -> version."""
    listing = subprocess.run(
        [str(python), "-c", "import importlib.metadata as m; [print(d.metadata['Name'], d.version) for d in "
         "m.distributions()]"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(line.split(" ", 1) for line in listing.splitlines() if " " in line)


def largest_packages(site: Path, count: int = 6) -> str:
    """The largest top-level folders in site-packages, as text."""
    sizes = sorted(((folder_mb(path), path.name) for path in site.iterdir() if path.is_dir()), reverse=True)
    return ", ".join(f"{name} {size:.0f} MB" for size, name in sizes[:count])


def main(
    extra: Annotated[str | None, typer.Option(help="Install digitwatch[EXTRA] instead of the runtime alone.")] = None,
    no_cache: Annotated[bool, typer.Option(help="Install without pip's cache (downloads everything).")] = False,
    keep: Annotated[Path | None, typer.Option(help="Create the venv here and keep it.", file_okay=False)] = None,
) -> None:
    """Install the project into a fresh venv and report time, size and what it holds."""
    with tempfile.TemporaryDirectory(prefix="bench_install_") as temporary:
        venv = keep or Path(temporary) / "venv"
        if venv.exists():
            shutil.rmtree(venv)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        python, target = venv / "bin" / "python", f"{PROJECT}[{extra}]" if extra else str(PROJECT)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        command = [str(python), "-m", "pip", "install", "-q", target] + (["--no-cache-dir"] if no_cache else [])
        started = time.perf_counter()
        subprocess.run(command, check=True)
        seconds = time.perf_counter() - started
        site = next((venv / "lib").glob("python3*/site-packages"))
        packages = installed(python)
        typer.echo(f"pip install {'digitwatch[' + extra + ']' if extra else '.'} into a fresh venv: {seconds:.0f} s")
        typer.echo(f"venv on disk: {folder_mb(venv):.0f} MB; {len(packages)} distributions")
        typer.echo(f"largest: {largest_packages(site)}")
        names = {key.lower().replace("_", "-") for key in packages}  # tensorflow-cpu calls itself tensorflow_cpu
        present = [name for name in TRAINING_PACKAGES if name in names]
        typer.echo(f"TensorFlow, Keras, matplotlib installed: {', '.join(present) if present else 'none'}")
        pngs = mnist_pngs(Path(temporary) / "pngs", 100)
        done = subprocess.run(
            [str(venv / "bin" / "digitwatch"), "classify", str(pngs[0].parent)], capture_output=True, text=True
        )
        rows = [line.split(",") for line in done.stdout.splitlines()[1:]]
        right = sum(1 for row in rows if row[1] == str(label_of(Path(row[0]))))
        typer.echo(f"digitwatch classify, 100 MNIST PNGs: exit {done.returncode}, {right} of {len(rows)} digits right")


if __name__ == "__main__":
    typer.run(main)
