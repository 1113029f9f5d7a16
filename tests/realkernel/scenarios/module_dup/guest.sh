# Same-name statics of one module (two source files), dotted names: by position and by file.
insmod twins.ko && echo "insmod.twins=ok"
cat /sys/module/twins/parameters/state
insmod klp_module_dup.ko && echo "insmod.klp_module_dup=ok"
wait_patched klp_module_dup
cat /sys/module/twins/parameters/state
report_kallsyms twins twin_value twin_label.12345 twin_scale.constprop.0 twin_get.isra.0
unpatch klp_module_dup klp_module_dup && echo "unpatch=ok"
rmmod twins && echo "rmmod.twins=ok"
