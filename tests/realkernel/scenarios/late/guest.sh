# Late patching: the livepatch first (bar absent), then bar, which the kernel patches as it loads.
echo "bar.before=$(test -d /sys/module/bar && echo loaded || echo absent)"
insmod klp_late.ko && echo "insmod.klp_late=ok"
wait_patched klp_late
insmod bar.ko && echo "insmod.bar=ok"
cat /sys/module/bar/parameters/state
report_kallsyms bar bar_limit bar_hits bar_hit
unpatch klp_late klp_late && echo "unpatch=ok"
cat /sys/module/bar/parameters/state
rmmod bar && echo "rmmod.bar=ok"
