"""The names the livepatch core parses (kernel/livepatch/core.c), built and parsed in one place.

  section  .klp.rela.<objname>.<section>      objname: at most 55 chars, no '.'
  symbol   .klp.sym.<objname>.<symname>,<pos> symname: at most 511 chars, no ','

The kernel reads them with sscanf(".klp.rela.%55[^.]") and
sscanf(".klp.sym.%55[^.].%511[^,],%lu"); a longer objname or symname does not fail loudly there,
it is cut short and resolves the wrong name, so we refuse such names before writing them.
"""

from ..text import is_decimal

KLP_RELA_PREFIX = ".klp.rela."
KLP_SYM_PREFIX = ".klp.sym."
MODULE_NAME_MAX = 55  # MODULE_NAME_LEN - 1
SYMBOL_NAME_MAX = 511  # KSYM_NAME_LEN - 1
VMLINUX = "vmlinux"


class KlpName(ValueError):
    """A name the kernel would not parse as intended (the message says why)."""


def check_objname(objname):
    if not objname:
        raise KlpName("empty object name")
    if "." in objname:
        raise KlpName(f"object name '{objname}' contains '.'")
    if len(objname) > MODULE_NAME_MAX:
        raise KlpName(f"object name '{objname}' is longer than {MODULE_NAME_MAX} characters")


def check_symname(symname):
    if not symname:
        raise KlpName("empty symbol name")
    if "," in symname:
        raise KlpName(f"symbol name '{symname}' contains ','")
    if len(symname) > SYMBOL_NAME_MAX:
        raise KlpName(f"symbol name '{symname[:40]}...' is longer than {SYMBOL_NAME_MAX} "
                      f"characters")


def klp_sym_name(objname, symname, sympos):
    """'.klp.sym.<obj>.<sym>,<pos>', refusing what the kernel would misparse."""
    check_objname(objname)
    check_symname(symname)
    if sympos < 0:
        raise KlpName(f"negative symbol position {sympos}")
    return f"{KLP_SYM_PREFIX}{objname}.{symname},{sympos}"


def klp_rela_name(objname, section_name):
    """'.klp.rela.<obj>.<section>': the section's own name follows, so '.text' gives '..text'
    (the spelling of the old klp-convert, kpatch and objtool; the kernel accepts it)."""
    check_objname(objname)
    return f"{KLP_RELA_PREFIX}{objname}.{section_name}"


def parse_klp_sym_name(name):
    """(objname, symname, sympos) of a '.klp.sym.' name; KlpName if the kernel would reject it."""
    if not name.startswith(KLP_SYM_PREFIX):
        raise KlpName(f"'{name}' does not start with '{KLP_SYM_PREFIX}'")
    rest = name[len(KLP_SYM_PREFIX):]
    objname, dot, tail = rest.partition(".")
    if not dot:
        raise KlpName(f"'{name}' has no '.' after the object name")
    symname, comma, pos = tail.rpartition(",")
    if not comma:
        raise KlpName(f"'{name}' has no ',<sympos>'")
    if not is_decimal(pos):
        raise KlpName(f"'{name}' has a symbol position '{pos}' that is not a decimal number")
    check_objname(objname)
    check_symname(symname)
    return objname, symname, int(pos)


def parse_klp_rela_name(name):
    """The object name of a '.klp.rela.' section as the kernel reads it."""
    if not name.startswith(KLP_RELA_PREFIX):
        raise KlpName(f"'{name}' does not start with '{KLP_RELA_PREFIX}'")
    objname = name[len(KLP_RELA_PREFIX):].split(".", 1)[0]
    check_objname(objname)
    return objname


def is_klp_rela_name(name):
    return name.startswith(KLP_RELA_PREFIX)


def is_klp_sym_name(name):
    return name.startswith(KLP_SYM_PREFIX)


def module_runtime_name(filename):
    """The name a module has at run time: file name without .ko[.xz|.gz|.zst], '-' -> '_'."""
    base = filename.rsplit("/", 1)[-1]
    for suffix in (".xz", ".gz", ".zst"):
        if base.endswith(suffix):
            base = base[: -len(suffix)]
    if base.endswith(".ko"):
        base = base[:-3]
    return base.replace("-", "_")
