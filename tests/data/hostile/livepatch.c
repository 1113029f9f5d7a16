/* A livepatch referencing the target's global; the tests give the reference a hostile name. */
extern int weird_target;
int patched(void) { return weird_target; }
static const char modinfo_lp[] __attribute__((section(".modinfo"), used, aligned(1))) = "livepatch=Y";
