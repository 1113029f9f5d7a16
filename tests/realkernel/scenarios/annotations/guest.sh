# Every annotation family, each picking a vmlinux symbol.
insmod klp_annotations.ko && echo "insmod=ok"
wait_patched klp_annotations
cat /proc/cmdline
report_kallsyms vmlinux @KLP_TEST_ATTR@ @KLP_TEST_TABLE@ max_threads @KLP_TEST_BY_FILE@
unpatch klp_annotations klp_annotations && echo "unpatch=ok"
