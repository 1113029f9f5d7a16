# Every relocation type: rtarget, then its livepatch; the patched state reads, writes, calls
# and prints the addresses it reached. Then the copies check must refuse, with the kernel.
insmod rtarget.ko && echo "insmod.rtarget=ok"
sed 's/^/before./' /sys/module/rtarget/parameters/state
insmod klp_arch_relocs.ko && echo "insmod.klp_arch_relocs=ok"
wait_patched klp_arch_relocs
cat /sys/module/rtarget/parameters/state
report_kallsyms rtarget rt_u8 rt_u16 rt_u32 rt_u64 rt_name rt_add
unpatch klp_arch_relocs klp_arch_relocs && echo "unpatch=ok"
sed 's/^/after./' /sys/module/rtarget/parameters/state
for refused in refused_*.ko; do
    [ -e "$refused" ] || continue
    echo "klp-test: $refused" > /dev/kmsg
    if insmod "$refused"; then
        echo "$refused=loaded"
        unpatch klp_arch_relocs klp_arch_relocs
    else
        echo "$refused=failed"
    fi
done
rmmod rtarget && echo "rmmod.rtarget=ok"
