"""The real-kernel harness's own parts that need no kernel: the guest report parser and the
initramfs archive writer."""

import subprocess

import pytest

from klp_convert.guest import BootResult, newc_archive, parse_report

REPORT = """@@ begin one 1.50\r
insmod=ok\r
value=1\r
value=2\r
free text\r
@@ status one 0\r
kmsg: [    1.600000] livepatch: 'klp_one': patching complete\r
@@ end one 2.25\r
@@ begin two 2.30\r
insmod=ok\r
"""


def test_report_lines_values_kernel_messages_and_times():
    one = parse_report(REPORT)["one"]
    assert one.ended and one.status == 0 and one.seconds == pytest.approx(0.75)
    assert one.values("value") == ["1", "2"] and one.value("insmod") == "ok"
    assert one.lines[-1] == "free text"
    assert one.kmsg == ["livepatch: 'klp_one': patching complete"]
    assert one.kmsg_with("patching complete")
    with pytest.raises(AssertionError, match="expected one 'value=' line"):
        one.value("value")


@pytest.mark.parametrize("cut", range(len(REPORT)))
def test_a_report_cut_anywhere_reads_as_unfinished(cut):
    """The guest may die, or be stopped at the time limit, in the middle of a line: the line
    cut short counts as not written (a traceback before: '@@ begin tw' could not be taken
    apart; '@@ end one 2.2' looked whole), and what came before reads the same."""
    steps = parse_report(REPORT[:cut])
    whole = parse_report(REPORT)
    for name, step in steps.items():
        assert step.lines == whole[name].lines[:len(step.lines)]
        assert step.kmsg == whole[name].kmsg[:len(step.kmsg)]
        assert step.status in (None, whole[name].status)
        assert not step.ended or (whole[name].ended and step.seconds == whole[name].seconds)
    assert parse_report("@@ begin one x\n@@ status one -\n") == {}
    assert parse_report("@@ begin one 1\n@@ end one 2")["one"].ended is False
    assert parse_report("@@ begin one 1\n@@ status one \u00b2\n")["one"].status is None


def test_unfinished_scenario_fails_with_the_console_tail():
    result = BootResult("boot\nKernel panic - not syncing: Fatal exception\n", REPORT,
                        seconds=3.0, returncode=0, timed_out=False)
    with pytest.raises(AssertionError) as unfinished:
        result.step("two")
    assert "did not finish step two" in str(unfinished.value)
    assert "Kernel panic - not syncing" in str(unfinished.value)
    with pytest.raises(AssertionError, match="never started"):
        result.step("three")


def test_newc_archive_lists_files_and_their_directories(tmp_path):
    archive = newc_archive({"init": (0o100755, b"#!/bin/sh\n"),
                            "scenarios/a/guest.sh": (0o100644, b"echo hi\n")})
    listing = subprocess.run(["busybox", "cpio", "-t"], input=archive, capture_output=True,
                             check=True).stdout.decode().split()
    assert listing == ["init", "scenarios", "scenarios/a", "scenarios/a/guest.sh"]
    subprocess.run(["busybox", "cpio", "-i", "-d"], input=archive, cwd=tmp_path, check=True,
                   capture_output=True)
    assert (tmp_path / "scenarios" / "a" / "guest.sh").read_bytes() == b"echo hi\n"
    assert (tmp_path / "init").stat().st_mode & 0o777 == 0o755
