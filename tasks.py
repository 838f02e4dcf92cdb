"""The project's commands, for a machine that has nothing but python3 (3.11+).

    python3 tasks.py demo     the lesson's race, narrated, against a local server
    python3 tasks.py test     lint, type-check and run the whole test suite
    python3 tasks.py bench    the benchmarks (a few minutes; not part of test)
    python3 tasks.py soak     100,000 requests through expiries and failures

Each command first makes (or refreshes) a virtual environment in `.venv`
with the project and its tools installed, so a fresh clone needs no other
step. Extra arguments go to the demo, to pytest or to the benchmarks.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"

# aioresponses 0.7.9 cannot build responses on aiohttp 3.14 (ClientResponse
# gained a required argument), so its test runs in an environment of its own
# on the last aiohttp it supports. The library itself is not pinned.
COMPAT_VENV = ROOT / ".venv-aiohttp313"
COMPAT_PACKAGES = ["aiohttp>=3.10,<3.14", "aioresponses==0.7.9"]


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__)
        return 2
    return COMMANDS[argv[0]](argv[1:])


def demo(args: list[str]) -> int:
    python = ensure_venv(VENV, ["-e", f"{ROOT}[dev,redis]"])
    return run([python, str(ROOT / "examples" / "demo.py"), *args])


def test(args: list[str]) -> int:
    python = ensure_venv(VENV, ["-e", f"{ROOT}[dev,redis]"])
    steps = [
        [python, "-m", "ruff", "format", "--check", "."],
        [python, "-m", "ruff", "check", "."],
        [python, "-m", "mypy"],
        [python, "-m", "pytest", *args],
    ]
    for step in steps:
        if code := run(step):
            return code

    compat = ensure_venv(COMPAT_VENV, ["-e", f"{ROOT}[test]", *COMPAT_PACKAGES])
    aioresponses_tests = str(ROOT / "tests" / "test_aioresponses.py")
    return run([compat, "-m", "pytest", "-p", "no:cacheprovider", aioresponses_tests])


def ensure_venv(path: Path, requirements: list[str]) -> str:
    """The venv's python, installing `requirements` when they have changed."""
    python = path / "bin" / "python"
    if not python.exists():
        print(f"tasks: creating {path.name}", flush=True)
        venv.create(path, with_pip=True)

    wanted = _fingerprint(requirements)
    stamp = path / ".rx_auth-installed"
    if not stamp.exists() or stamp.read_text() != wanted:
        print(f"tasks: installing into {path.name}", flush=True)
        pip = [str(python), "-m", "pip", "install", "--quiet"]
        if code := run([*pip, "--upgrade", "pip"]) or run([*pip, *requirements]):
            raise SystemExit(code)
        stamp.write_text(wanted)
    return str(python)


def _fingerprint(requirements: list[str]) -> str:
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes())
    digest.update("\n".join(requirements).encode())
    return digest.hexdigest()


def run(command: list[str]) -> int:
    program, *args = command
    print("$", Path(program).name, *args, flush=True)
    return subprocess.run(command, cwd=ROOT, env=os.environ.copy()).returncode


def bench(args: list[str]) -> int:
    python = ensure_venv(VENV, ["-e", f"{ROOT}[dev,redis]"])
    return run([python, "-m", "benchmarks", *args])


def soak(args: list[str]) -> int:
    python = ensure_venv(VENV, ["-e", f"{ROOT}[dev,redis]"])
    return run([python, str(ROOT / "reliability" / "soak.py"), *args])


COMMANDS = {"demo": demo, "test": test, "bench": bench, "soak": soak}

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
