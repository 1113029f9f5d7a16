# Late patching: the livepatch first (bar absent), then bar, which the kernel patches as it loads.
echo "bar.before=$(test -d /sys/module/bar && echo loaded || echo absent)"
insmod klp_late.ko && echo "insmod.klp_late=ok"
wait_patched klp_late
insmod bar.ko && echo "insmod.bar=ok"
cat /sys/module/bar/parameters/state
report_kallsyms bar bar_limit bar_hits bar_hit
# Linux 6.1 leaves bar's relocations applied in the patch when bar goes: while the patch is
# enabled, bar cannot come back (klp-convert check warns about it). 6.3 and later clear them:
# bar comes back patched.
rmmod bar && echo "rmmod.bar.patched=ok"
if insmod bar.ko; then
    echo "reload.patched=ok"
    sed 's/^/reloaded./' /sys/module/bar/parameters/state
    echo "reloaded.kallsyms.bar_hits=$(kallsyms bar_hits bar)"
    rmmod bar && echo "rmmod.reloaded=ok"
else
    echo "reload.patched=failed"
fi
unpatch klp_late klp_late && echo "unpatch=ok"
[ -d /sys/module/bar ] || insmod bar.ko && echo "reload.unpatched=ok"
cat /sys/module/bar/parameters/state
rmmod bar && echo "rmmod.bar=ok"
