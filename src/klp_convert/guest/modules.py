"""The modules a guest loads: found by name in a kernel's module tree, their dependencies
first, decompressed on the host (busybox insmod reads plain ELF only).

A module's dependencies are the `depends=` entry modpost writes into its .modinfo (what depmod
reads to write modules.dep); modules.dep, where the tree has one, only spares walking the tree
to find a file by name. Debian's image packages ship no modules.dep (depmod runs at install).
"""

import os
from pathlib import Path

from ..compression import MODULE_SUFFIXES, read_module_file
from ..elf import ElfObject
from ..errors import KlpError
from ..kernel.modinfo import modinfo_value, modinfo_values, read_modinfo
from ..kernel.names import module_runtime_name


class GuestModule:
    """One module file as the guest will load it."""

    def __init__(self, source, data, modinfo):
        self.source = Path(source)
        self.data = data
        self.name = modinfo_value(modinfo, "name") or module_runtime_name(self.source.name)
        self.depends = [d for v in modinfo_values(modinfo, "depends") for d in v.split(",") if d]
        self.is_livepatch = modinfo_value(modinfo, "livepatch") is not None

    @property
    def file_name(self):
        """Its name in the guest: the module name, uncompressed."""
        return f"{self.name}.ko"

    @property
    def machine(self):
        return ElfObject.from_bytes(self.data, str(self.source)).machine


def read_guest_module(path):
    """The module at ``path`` (.ko, .ko.xz, .ko.gz, .ko.zst); KlpError when it cannot be read
    or is not a module."""
    path = str(path)
    if not os.path.isfile(path):
        raise KlpError(path, "no such module file")
    data = read_module_file(path, KlpError)
    obj = ElfObject.from_bytes(data, path)
    modinfo = read_modinfo(obj)
    if not modinfo:
        raise KlpError(path, "not a kernel module (no .modinfo section)")
    return GuestModule(path, data, modinfo)


class ModuleTree:
    """A kernel's installed modules (/lib/modules/RELEASE), by module name."""

    def __init__(self, root):
        self.root = Path(root)
        self._paths = None
        self._builtin = None

    def path(self, name):
        """The file of module ``name`` ('-' and '_' alike), None when the tree has none."""
        if self._paths is None:
            self._paths = self._index()
        return self._paths.get(module_runtime_name(name))

    def is_builtin(self, name):
        if self._builtin is None:
            listed = self.root / "modules.builtin"
            lines = listed.read_text().split() if listed.is_file() else []
            self._builtin = {module_runtime_name(line) for line in lines}
        return module_runtime_name(name) in self._builtin

    def _index(self):
        dep = self.root / "modules.dep"
        if dep.is_file():
            files = [line.split(":", 1)[0] for line in dep.read_text().splitlines()]
            return {module_runtime_name(f): self.root / f for f in files if f}
        found = {}
        for top, dirs, names in os.walk(self.root):
            dirs[:] = sorted(d for d in dirs if d not in ("build", "source"))
            for name in sorted(names):
                if name.endswith(MODULE_SUFFIXES):
                    found.setdefault(module_runtime_name(name), Path(top) / name)
        return found


def find_module(request, tree):
    """The module a user named: a file path, or a module name looked up in ``tree``."""
    if "/" in request or os.path.isfile(request):
        return read_guest_module(request)
    path = tree.path(request) if tree else None
    if path is None:
        where = f"in {tree.root}" if tree else "(name a file, or give --modules DIR)"
        raise KlpError(request, f"no such module file, and no module of that name {where}")
    return read_guest_module(path)


def load_order(modules, tree, loaded=()):
    """``modules`` with the dependencies they lack, each after what it depends on, none twice,
    skipping names in ``loaded`` (already in the guest) and modules built into the kernel."""
    order, seen = [], set(loaded)

    def visit(module, chain):
        for dep in module.depends:
            name = module_runtime_name(dep)
            if name in seen or name in chain or (tree and tree.is_builtin(name)):
                continue
            path = tree.path(name) if tree else None
            if path is None:
                where = f"in {tree.root}" if tree else "(give --modules DIR)"
                raise KlpError(module.source, f"needs module {dep}, which is not found {where}")
            visit(read_guest_module(path), chain | {name})
        if module.name not in seen:
            seen.add(module.name)
            order.append(module)

    for module in modules:
        visit(module, {module.name})
    return order
