"""Proof in a real kernel: livepatches built out of tree against Debian's kernel headers,
converted, loaded into Debian's kernel booted under QEMU (TCG), their effect checked in the guest.

One boot runs every scenario (each its own test); the guest's reports are parsed by
support/guest.py. Scenario sources live in tests/realkernel/scenarios/<name>/.
"""

import pytest

from support import guest
from support.realkernel import (
    TIMES, BuildFailed, copy_scenario, debian_kernel, guest_directory, make_modules, timed,
)

pytestmark = [pytest.mark.debian, pytest.mark.realkernel, pytest.mark.slow]


def build_plain(kernel, source):
    """A livepatch that needs no conversion: plain kbuild."""
    make_modules(kernel, source / "livepatch")


# scenario -> how its modules are built; the boot runs them in this order.
BUILDERS = {
    "cmdline": build_plain,
}


class Suite:
    """The boot's result and the scenarios that could not be built."""

    def __init__(self, boot_result, build_failures):
        self.boot_result = boot_result
        self.build_failures = build_failures

    def scenario(self, name):
        if name in self.build_failures:
            pytest.fail(f"scenario {name} did not build:\n{self.build_failures[name]}")
        return self.boot_result.scenario(name)


@pytest.fixture(scope="session")
def kernel():
    return debian_kernel()


@pytest.fixture(scope="session")
def suite(kernel, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("realkernel")
    guest_dirs, failures = {}, {}
    for name, build in BUILDERS.items():
        source = copy_scenario(name, workdir)
        try:
            with timed(name, "build"):
                build(kernel, source)
            guest_dirs[name] = guest_directory(source)
        except BuildFailed as e:
            failures[name] = str(e)
    initrd = guest.build_initramfs(workdir / "initrd.cpio.gz", guest_dirs)
    result = guest.boot(kernel.vmlinuz, initrd, workdir)
    TIMES.setdefault("(boot)", {})["qemu"] = result.seconds
    for name, report in result.scenarios.items():
        if report.seconds is not None:
            TIMES.setdefault(name, {})["guest"] = report.seconds
    return Suite(result, failures)


def test_cmdline_livepatch_without_conversion(suite):
    """The harness on its own: a livepatch of exported symbols only replaces /proc/cmdline."""
    s = suite.scenario("cmdline")
    assert s.value("insmod") == "ok", s.report()
    assert s.value("klp_cmdline.enabled") == "1" and s.value("klp_cmdline.transition") == "0"
    assert s.value("patched") == "klp_cmdline: this /proc/cmdline comes from a livepatch"
    assert s.value("before") == s.value("after") == guest.KERNEL_ARGS, s.report()
    assert s.kmsg_with("livepatch: 'klp_cmdline': patching complete"), s.report()
    assert s.status == 0, s.report()
