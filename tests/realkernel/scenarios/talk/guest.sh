# The talk's example: foo first, then the livepatch; /proc/cmdline and foo's state patched.
insmod foo.ko && echo "insmod.foo=ok"
cat /sys/module/foo/parameters/state
insmod klp_talk.ko && echo "insmod.klp_talk=ok"
wait_patched klp_talk
# The patched /proc/cmdline prints key=value lines, then what filesystems_proc_show() prints.
cat /proc/cmdline > /tmp/talk.cmdline
grep = /tmp/talk.cmdline
grep -v = /tmp/talk.cmdline | sed 's/^/patched.fs=/'
sed 's/^/fs=/' /proc/filesystems
for i in 1 2 3; do cat /sys/module/foo/parameters/state; done
echo "expected.max_threads=$(cat /proc/sys/kernel/threads-max)"
report_kallsyms vmlinux max_threads saved_command_line filesystems_proc_show
report_kallsyms foo countdown counted count_it
unpatch klp_talk klp_talk && echo "unpatch=ok"
cat /sys/module/foo/parameters/state
rmmod foo && echo "rmmod.foo=ok"
