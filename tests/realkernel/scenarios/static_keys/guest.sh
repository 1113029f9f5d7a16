# Static keys: vmlinux's sched_schedstats flipped by sysctl, keys.ko's keys_feature by a parameter.
insmod keys.ko && echo "insmod.keys=ok"
insmod klp_static_keys.ko && echo "insmod.klp_static_keys=ok"
wait_patched klp_static_keys
echo "schedstats.sysctl=$(cat /proc/sys/kernel/sched_schedstats)"
cat /proc/cmdline
echo 1 > /proc/sys/kernel/sched_schedstats
cat /proc/cmdline
echo 0 > /proc/sys/kernel/sched_schedstats
cat /proc/cmdline
cat /sys/module/keys/parameters/state
echo 1 > /sys/module/keys/parameters/feature
cat /sys/module/keys/parameters/state
echo 0 > /sys/module/keys/parameters/feature
cat /sys/module/keys/parameters/state
report_kallsyms vmlinux sched_schedstats
report_kallsyms keys keys_feature
unpatch klp_static_keys klp_static_keys && echo "unpatch=ok"
rmmod keys && echo "rmmod.keys=ok"
