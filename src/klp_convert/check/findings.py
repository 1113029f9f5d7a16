"""What check reports: findings, and the verdict they add up to."""

from ..records import as_dict, record

ERROR = "error"
WARNING = "warning"


@record
class Finding:
    """One problem with one module.

    ``kernel_message`` is the line the target kernel prints (dmesg) when it meets the problem,
    None when the kernel says nothing (the silent mistakes are the worst ones); ``fix`` says what
    to change. ``rule`` names the rule that found it (stable, for tests and --json).
    """

    module: str
    severity: str
    rule: str
    message: str
    kernel_message: str = None
    fix: str = None

    def to_json(self):
        return as_dict(self)

    def lines(self):
        """The finding as text: 'MODULE: error: what', then the predicted kernel line and the fix."""
        out = [f"{self.module}: {self.severity}: {self.message}"]
        if self.kernel_message:
            out.append(f"  kernel: {self.kernel_message}")
        if self.fix:
            out.append(f"  fix: {self.fix}")
        return out


def will_load(findings):
    """True when nothing in ``findings`` stops the module from loading and working."""
    return not any(f.severity == ERROR for f in findings)
