"""Compilers the tests build real objects with: the host gcc and Debian's cross compilers."""

import os
import shutil
import subprocess

import pytest

# name -> (compiler, extra flags). "i686" is the 32-bit target (ELFCLASS32, SHT_REL).
TARGETS = {
    "x86_64": ("gcc", []),
    "ppc64le": ("powerpc64le-linux-gnu-gcc", []),
    "s390x": ("s390x-linux-gnu-gcc", []),
    "aarch64": ("aarch64-linux-gnu-gcc", []),
    "i686": ("i686-linux-gnu-gcc", []),
}
CROSS_TARGETS = [t for t in TARGETS if t != "x86_64"]
# Debian package of each cross compiler (installed by scripts/test).
PACKAGES = {
    "ppc64le": "gcc-powerpc64le-linux-gnu",
    "s390x": "gcc-s390x-linux-gnu",
    "aarch64": "gcc-aarch64-linux-gnu",
    "i686": "gcc-i686-linux-gnu",
}


def require_tool(tool, package=None):
    """Skip when a tool is missing on a developer machine; fail in CI, where it must be there."""
    if shutil.which(tool):
        return
    message = f"{tool} not found" + (f" (apt-get install {package})" if package else "")
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def compile_c(target, source, output, flags=("-O2",)):
    compiler, extra = TARGETS[target]
    require_tool(compiler, PACKAGES.get(target))
    cmd = [compiler, "-c", "-ffunction-sections", "-fdata-sections", "-fno-asynchronous-unwind-tables",
           *flags, *extra, "-o", str(output), str(source)]
    subprocess.run(cmd, check=True, capture_output=True, text=True)
    return output


# Kernel modules are built without PIC/PIE (the cross compilers default to PIE).
KERNEL_LIKE_FLAGS = ("-O2", "-fno-pic", "-fno-common")
INCLUDE_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "include")


def compile_livepatch(target, source, output, extra=()):
    """Compile a livepatch source as kbuild would (no PIC) with include/klp-convert.h."""
    return compile_c(target, source, output, flags=(*KERNEL_LIKE_FLAGS, "-I", INCLUDE_DIR,
                                                    *extra))


def assemble(source, output, target="x86_64"):
    compiler, extra = TARGETS[target]
    require_tool(compiler, PACKAGES.get(target))
    subprocess.run([compiler, "-c", *extra, "-o", str(output), str(source)], check=True,
                   capture_output=True, text=True)
    return output


def readelf_clean(path):
    """Run `readelf -W -a`; return its output, failing the test on any warning or error."""
    proc = subprocess.run(["readelf", "-W", "-a", str(path)], capture_output=True, text=True)
    problems = [line for line in (proc.stderr + proc.stdout).splitlines()
                if "warning" in line.lower() or "error" in line.lower()]
    assert proc.returncode == 0 and not proc.stderr.strip() and not problems, (
        f"readelf complained about {path}:\n{proc.stderr}\n" + "\n".join(problems))
    return proc.stdout


def link_toy_vmlinux(output, sources, flags=()):
    """A small linked "vmlinux" (static, no libc, no PIE: absolute addresses as a kernel has)
    from C ``sources`` (more gcc ``flags``), for the kallsyms and System.map rules."""
    require_tool("gcc")
    subprocess.run(["gcc", "-O2", "-nostdlib", "-static", "-no-pie", *flags, "-o", str(output),
                    *map(str, sources)], check=True, capture_output=True, text=True)
    return output
