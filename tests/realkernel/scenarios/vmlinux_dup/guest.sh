# A duplicated vmlinux name, picked by position and by source file.
insmod klp_vmlinux_dup.ko && echo "insmod=ok"
wait_patched klp_vmlinux_dup
cat /proc/cmdline
report_kallsyms vmlinux @KLP_TEST_TABLE@
unpatch klp_vmlinux_dup klp_vmlinux_dup && echo "unpatch=ok"
