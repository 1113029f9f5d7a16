"""Signs of a kernel in trouble: taint flags and the messages of an oops, BUG or WARN.

Taint bits and letters: include/linux/panic.h TAINT_* and kernel/panic.c taint_flags[]; the
same bits from 5.10 to 7.2 (7.x adds J at bit 19). /proc/sys/kernel/tainted shows the bits as a
decimal number.
"""

# bit -> (letter, what the kernel means by it)
TAINT_FLAGS = {
    0: ("P", "proprietary module"),
    1: ("F", "module force-loaded"),
    2: ("S", "CPU out of spec"),
    3: ("R", "module force-unloaded"),
    4: ("M", "machine check"),
    5: ("B", "bad page"),
    6: ("U", "tainted by user space"),
    7: ("D", "kernel died (oops or BUG)"),
    8: ("A", "ACPI table overridden"),
    9: ("W", "kernel warning"),
    10: ("C", "staging driver"),
    11: ("I", "firmware workaround"),
    12: ("O", "out-of-tree module"),
    13: ("E", "unsigned module"),
    14: ("L", "soft lockup"),
    15: ("K", "livepatch"),
    16: ("X", "auxiliary taint"),
    17: ("T", "struct randomization"),
    18: ("N", "test taint"),
    19: ("J", "fwctl used"),
}

# What loading an out-of-tree livepatch does by design: a livepatch taints K
# (kernel/livepatch/core.c klp_init_patch_early -> add_taint_module), an out-of-tree module O,
# a module without a signature the kernel knows E.
BY_DESIGN = frozenset("KOE")


def taint_letters(mask):
    """The letters of the taint bits set in ``mask``, in bit order ('?' for an unknown bit)."""
    return [TAINT_FLAGS.get(bit, ("?",))[0] for bit in range(mask.bit_length())
            if mask >> bit & 1]


def taint_description(letter):
    return next((what for flag, what in TAINT_FLAGS.values() if flag == letter), "unknown")


def by_design_letters():
    """BY_DESIGN in bit order."""
    return [letter for letter, _ in TAINT_FLAGS.values() if letter in BY_DESIGN]


# The first line of a report that means the kernel is in trouble (lib/bug.c, arch/x86/mm/
# fault.c, kernel/panic.c __warn and panic, arch/x86/kernel/dumpstack.c die, lockup detectors).
TROUBLE_STARTS = (
    "BUG:", "Oops:", "kernel BUG at", "WARNING:", "general protection fault",
    "Kernel panic", "watchdog: BUG:", "INFO: task", "rcu: INFO:", "Unable to handle kernel",
)
# The line that ends such a report (kernel/panic.c print_oops_end_marker).
TROUBLE_END = "---[ end trace"
TROUBLE_LINES_MAX = 40


def is_trouble(message):
    return any(start in message for start in TROUBLE_STARTS)


def trouble_reports(messages):
    """Each oops, BUG, WARN or panic in ``messages`` (kernel lines, in order) as its list of
    lines: from its first line to the end-of-trace marker (at most TROUBLE_LINES_MAX lines)."""
    reports, current = [], None
    for message in messages:
        if current is None:
            if is_trouble(message):
                current = [message]
                reports.append(current)
            continue
        if len(current) < TROUBLE_LINES_MAX:
            current.append(message)
        if TROUBLE_END in message:
            current = None
    return reports
