# Every annotation family, each picking a vmlinux symbol.
insmod klp_annotations.ko && echo "insmod=ok"
wait_patched klp_annotations
cat /proc/cmdline
report_kallsyms vmlinux attr_group cfb_tab32 max_threads cleanup_list
unpatch klp_annotations klp_annotations && echo "unpatch=ok"
