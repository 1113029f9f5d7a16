from support.realkernel import TIMES


def pytest_terminal_summary(terminalreporter):
    """Per-scenario times of the real-kernel suite (host build/convert, guest run, boots)."""
    if not TIMES:
        return
    terminalreporter.section("real-kernel suite: seconds per scenario")
    for scenario, steps in TIMES.items():
        parts = ", ".join(f"{step} {seconds:.1f}" for step, seconds in steps.items())
        terminalreporter.write_line(f"{scenario:<12} {sum(steps.values()):6.1f}  ({parts})")
