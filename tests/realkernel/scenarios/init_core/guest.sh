# A name in initcore's init and core symbols: klp_init_core.ko as converted (it calls the unique
# initcore_peer()), then the copy forced to 'helper', position 2, in both load orders.
state() { sed "s/^/$1./" /sys/module/initcore/parameters/state; }

# (a) initcore live first: kallsyms has its core symbols only, one helper.
insmod initcore.ko && echo "insmod.initcore=ok"
state unpatched
echo "live.kallsyms.helper=$(kallsyms helper initcore)"
echo "live.kallsyms.initcore_peer=$(kallsyms initcore_peer initcore)"
if insmod klp_init_core.ko; then echo "live.good=ok"; else echo "live.good=failed"; fi
wait_patched klp_init_core
state live.good
unpatch klp_init_core klp_init_core && echo "unpatch.good=ok"
if insmod klp_init_core_helper2.ko; then echo "live.forced=ok"; else echo "live.forced=failed"; fi
[ -d /sys/kernel/livepatch/klp_init_core ] && unpatch klp_init_core klp_init_core
rmmod initcore && echo "rmmod.initcore=ok"

# (b) the forced copy first: when initcore loads, kallsyms holds its whole symbol table.
# The marker splits the kernel messages of the two orders.
echo "klp-test: init_core late order" > /dev/kmsg
if insmod klp_init_core_helper2.ko; then echo "late.forced=ok"; else echo "late.forced=failed"; fi
wait_patched klp_init_core
insmod initcore.ko && echo "late.insmod.initcore=ok"
state late.forced
echo "late.kallsyms.helper=$(kallsyms helper initcore)"
[ -d /sys/kernel/livepatch/klp_init_core ] && unpatch klp_init_core klp_init_core &&
    echo "unpatch.forced=ok"
rmmod initcore && echo "rmmod.late.initcore=ok"
