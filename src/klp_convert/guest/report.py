"""The guest's report: what each step printed, its exit status and the kernel messages it
caused, as /init writes them on the report port (initramfs.py):

    @@ begin NAME UPTIME
    ... whatever guest.sh prints; lines `key=value` are values the caller reads ...
    @@ status NAME EXIT-STATUS
    kmsg: <kernel message>
    @@ end NAME UPTIME
    @@ poweroff
"""

from ..text import is_decimal


class ReportError(AssertionError):
    """The report lacks what the caller expected (a value, a finished step). An
    AssertionError, so a test that reads a report fails with the message."""


class Step:
    """What the guest reported for one step."""

    def __init__(self, name):
        self.name = name
        self.lines = []        # guest.sh's output, in order
        self.kmsg = []         # kernel messages, without their timestamps
        self.status = None     # guest.sh's exit status
        self.start = None      # guest uptime when it began
        self.seconds = None    # guest time spent in the step
        self.ended = False

    def values(self, key):
        """Every value printed as `key=value`, in order."""
        prefix = key + "="
        return [line[len(prefix):] for line in self.lines if line.startswith(prefix)]

    def value(self, key):
        """The one value printed as `key=value`; ReportError when absent or repeated."""
        found = self.values(key)
        if len(found) != 1:
            raise ReportError(f"step {self.name}: expected one '{key}=' line, got {found}")
        return found[0]

    def kmsg_with(self, text):
        return [m for m in self.kmsg if text in m]

    def report(self):
        return "\n".join([f"step {self.name} (status {self.status}):", *self.lines,
                          *("kmsg: " + m for m in self.kmsg)])


def parse_report(text):
    """{name: Step} from the guest's report channel. A line counts once its newline is
    written: the guest may die, or be stopped at the time limit, in the middle of one, and a
    line cut short can look whole ('@@ end one 2.2' of '@@ end one 2.25', 'insmod=o')."""
    steps = {}
    current = None
    lines = text.replace("\r", "").split("\n")
    lines.pop()  # '' after the final newline, else the line the guest did not end
    for line in lines:
        if line.startswith("@@ begin "):
            name, start = _marker(line, float)
            if start is not None:
                current = steps[name] = Step(name)
                current.start = start
        elif current is None:
            continue
        elif line.startswith("@@ status "):
            status = _marker(line, int)[1]
            if status is not None:
                current.status = status
        elif line.startswith("@@ end "):
            end = _marker(line, float)[1]
            if end is not None:
                current.seconds = end - current.start
                current.ended = True
                current = None
        elif line.startswith("kmsg: "):
            current.kmsg.append(strip_timestamp(line[len("kmsg: "):]))
        else:
            current.lines.append(line)
    return steps


def _marker(line, kind):
    """(name, value) of a marker line `@@ <what> <name> <value>`, value None when the line
    does not hold one of ``kind`` (int: ASCII digits; float: seconds since boot)."""
    fields = line.split()
    if len(fields) < 4:
        return None, None
    name, value = fields[2], fields[3]
    if kind is int:
        return name, int(value) if is_decimal(value) else None
    try:
        return name, float(value)
    except ValueError:
        return name, None


def strip_timestamp(message):
    if message.startswith("[") and "]" in message:
        return message.split("]", 1)[1].lstrip()
    return message
