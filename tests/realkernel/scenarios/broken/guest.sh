# One variant of klp_broken.ko: hmod first, then the livepatch; if it loads, run its code.
insmod hmod.ko && echo "insmod.hmod=ok"
if insmod klp_broken.ko; then echo "insmod=ok"; else echo "insmod=failed"; fi
if [ -d /sys/kernel/livepatch/klp_broken ]; then
    wait_patched klp_broken
    # A subshell: if the patched code oopses, the kernel kills only this reader.
    (cat /proc/cmdline)
    echo "cmdline.status=$?"
    (cat /sys/module/hmod/parameters/state)
    echo "state.status=$?"
    unpatch klp_broken klp_broken && echo "unpatch=ok"
fi
rmmod hmod && echo "rmmod.hmod=ok"
