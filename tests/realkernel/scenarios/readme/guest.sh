# The README's "write your first livepatch" module, as the README builds it.
insmod hello_klp.ko && echo "insmod=ok"
wait_patched hello_klp
echo "cmdline=$(cat /proc/cmdline)"
unpatch hello_klp hello_klp && echo "unpatch=ok"
