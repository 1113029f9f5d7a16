# Load the livepatch, read /proc/cmdline patched, disable the patch, read it original again.
echo "before=$(cat /proc/cmdline)"
insmod klp_cmdline.ko && echo "insmod=ok"
wait_patched klp_cmdline
echo "patched=$(cat /proc/cmdline)"
unpatch klp_cmdline klp_cmdline && echo "rmmod=ok"
echo "after=$(cat /proc/cmdline)"
