"""Database builds in a row on a loaded machine: every one succeeds and writes the same bytes.

The build reads modules in a pool of worker processes into scratch databases that the main
process merges; a series of builds on a busy machine once failed now and then (issue 13). The
tree is small, but over the pool threshold, so each build forks workers, merges several parts
and shuts the pool down, while two CPU-bound processes compete for the cores.
"""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from klp_convert.symdb import build
from test_symdb_objects import DATA, link_module

pytestmark = pytest.mark.slow

BUILDS = 50
# Over the pool threshold and a few chunks, so several scratch databases are merged.
MODULE_FILES = max(build.PARALLEL_THRESHOLD, 2 * build.CHUNK) + build.CHUNK // 2


@pytest.fixture
def busy_cores():
    """Two CPU-bound processes for the duration of the test."""
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield hogs
    for hog in hogs:
        hog.kill()
        hog.wait()


def module_tree(tmp):
    """MODULE_FILES small gcc-built modules, each under its own file (and so runtime) name."""
    one = link_module(tmp, "one.ko", "vmlinux_b.c").read_bytes()
    root = tmp / "tree"
    for number in range(MODULE_FILES):
        directory = root / f"d{number % 7}"
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"mod{number:04d}.ko").write_bytes(one)
    return root


def test_builds_in_a_row_on_a_loaded_machine_all_succeed_alike(tmp_path, busy_cores):
    tree = module_tree(tmp_path)
    output = tmp_path / "kernel.symdb"
    argv = [sys.executable, "-m", "klp_convert", "symbols", "--vmlinux", DATA / "System.map",
            "--modules", tree, "-o", output]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(Path(build.__file__).parents[2]), os.environ.get("PYTHONPATH", "")]))
    digests, failures = set(), []
    for number in range(BUILDS):
        proc = subprocess.run([str(a) for a in argv], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            failures.append(f"build {number + 1}: exit {proc.returncode}: {proc.stderr[-2000:]}")
            continue
        digests.add(hashlib.sha256(output.read_bytes()).hexdigest())
    assert all(hog.poll() is None for hog in busy_cores), "the load went away during the test"
    assert not failures, "\n".join(failures)
    assert len(digests) == 1
    assert not list(tmp_path.glob(".kernel.symdb.*")), "a temporary database was left behind"
