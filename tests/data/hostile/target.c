/* A target module whose exported-looking global gets a hostile name in the tests (renamed with
 * the ELF layer), and a local that keeps an ordinary one. */
int weird_target = 5;
static int local_one(int x) { return x + weird_target; }
int use(int x) { return local_one(x); }
static const char modinfo_license[] __attribute__((section(".modinfo"), used, aligned(1))) = "license=GPL";
