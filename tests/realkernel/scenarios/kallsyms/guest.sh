# /proc/kallsyms as root sees it, before any module loads: gzip'ed and base64'ed between
# markers (tests/support/kallsyms_dump.py decodes it; it also boots with this alone).
echo KALLSYMS-BEGIN
gzip -1 -c /proc/kallsyms | uuencode -m kallsyms.gz
echo KALLSYMS-END
