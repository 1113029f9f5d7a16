# Relocations in .text, .text.unlikely, .text.klp_sections, .data, .rodata, .data..read_mostly.
insmod klp_sections.ko && echo "insmod=ok"
wait_patched klp_sections
cat /proc/cmdline
report_kallsyms vmlinux nr_processes files_stat log_buf_len uptime_proc_show \
    execdomains_proc_show loadavg_proc_show
unpatch klp_sections klp_sections && echo "unpatch=ok"
