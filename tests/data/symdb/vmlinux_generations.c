/* Names whose fate changed between kernel generations (kernel/kallsyms.py): scripts/mksysmap
 * drops the device table and modinfo names only since 7.x; kallsyms lists its own tables'
 * labels since 6.2 (kallsyms_num_syms is in vmlinux_b.c). */
const int __mod_device_table__pci__demo[2] = {1, 2};
const char __UNIQUE_ID_modinfo_12[] = "license=GPL";
