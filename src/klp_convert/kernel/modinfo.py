"""A module's `.modinfo`: NUL-separated `key=value` strings (include/linux/moduleparam.h).

The loader reads it with get_modinfo(): the first entry whose key matches counts, whatever its
value, so `livepatch=` with any value marks a livepatch module.
"""

from ..text import is_decimal

MODINFO_SECTION = ".modinfo"


def read_modinfo(obj):
    """[(key, value), ...] in file order; [] when the object has no .modinfo section."""
    sec = obj.section_by_name(MODINFO_SECTION)
    if sec is None:
        return []
    entries = []
    for raw in sec.data.split(b"\0"):
        text = raw.decode("utf-8", "replace")
        key, eq, value = text.partition("=")
        if key and eq:
            entries.append((key, value))
    return entries


def modinfo_value(entries, key):
    """The value get_modinfo() returns for ``key`` (the first match), or None."""
    for k, v in entries:
        if k == key:
            return v
    return None


def modinfo_values(entries, key):
    """Every value of a repeated key (import_ns, depends, alias)."""
    return [v for k, v in entries if k == key]


def vermagic_release(vermagic):
    """'6.1.0-26-amd64' from '6.1.0-26-amd64 SMP preempt mod_unload modversions '."""
    if not vermagic:
        return None
    return vermagic.split()[0] if vermagic.split() else None


def release_version(release):
    """(major, minor) of a kernel release string such as '6.1.0-26-amd64'; None if unparsable."""
    if not release:
        return None
    parts = release.split(".")
    if len(parts) < 2 or not is_decimal(parts[0]):
        return None
    try:
        return int(parts[0]), int("".join(c for c in parts[1].split("-")[0] if is_decimal(c)))
    except ValueError:
        return None


# include/linux/license.h license_is_gpl_compatible()
GPL_COMPATIBLE_LICENSES = frozenset({
    "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL",
})


def license_is_gpl_compatible(license):
    """False for a missing license too: the loader calls it 'unspecified' and taints."""
    return license in GPL_COMPATIBLE_LICENSES
