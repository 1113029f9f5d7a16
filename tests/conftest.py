import os
import sys

# Tests import helpers from tests/support; the package itself is installed (pip -e).
sys.path.insert(0, os.path.dirname(__file__))


import json  # noqa: E402

import pytest  # noqa: E402


# -- running in parallel (pytest-xdist, `scripts/test` runs `-n auto --dist loadgroup`) ----------

@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(config, items):
    """One worker per group: all tests of one real kernel (they share its builds and boots), or
    of one file (they share its module fixtures)."""
    for item in items:
        params = getattr(item, "callspec", None)
        kernel = params.params.get("kernel") if params else None
        group = f"kernel:{kernel}" if kernel else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group(group))


def pytest_sessionfinish(session):
    """A worker sends its real-kernel times to the controller (pytest_testnodedown)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        workeroutput["realkernel_times"] = json.dumps(_suite_times())


_WORKERS_TIMES = {}  # the controller's: what the workers sent


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for scenario, steps in json.loads(node.workeroutput.get("realkernel_times", "{}")).items():
        _WORKERS_TIMES.setdefault(scenario, {}).update(steps)


def pytest_terminal_summary(terminalreporter):
    """Per-scenario times of the real-kernel suite (host build/convert, guest run, boots)."""
    times = {**_suite_times(), **_WORKERS_TIMES}
    if not times:
        return
    terminalreporter.section("real-kernel suite: seconds per scenario")
    for scenario, steps in sorted(times.items()):
        parts = ", ".join(f"{step} {seconds:.1f}" for step, seconds in steps.items())
        terminalreporter.write_line(f"{scenario:<28} {sum(steps.values()):6.1f}  ({parts})")
    # Guest times are part of their boot's QEMU time: count boots and host work only.
    total = sum(seconds for steps in times.values() for step, seconds in steps.items()
                if step != "guest")
    terminalreporter.write_line(f"{'total':<28} {total:6.1f}  (builds, databases, boots)")


def _suite_times():
    """support.realkernel.TIMES of this process, if it ran the suite."""
    module = sys.modules.get("support.realkernel")
    return module.TIMES if module else {}
