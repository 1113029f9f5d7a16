"""Kernel knowledge shared by every layer above elf: klp name grammar and limits, relocation
type tables per architecture, special sections, kallsyms rules."""
