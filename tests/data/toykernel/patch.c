/* A livepatch referring to toy-kernel symbols. The tests include it after #define USE_*
 * lines choosing the references, and add their annotations after it. */
static const char modinfo_livepatch[] __attribute__((used, section(".modinfo"))) = "livepatch=Y";

#include "klp-convert.h"

extern int num_socks;
extern void pretzel_logic(void);
extern int countdown;
extern int count_it(void);
#ifdef USE_HATS
extern int hats;
#endif
#ifdef USE_HELPER
extern int helper(void);
#endif
#ifdef USE_STAT
extern int stat_count;
#endif
#ifdef USE_MISSING
extern int no_such_symbol;
#endif

int patched(void)
{
	int v = num_socks + countdown + count_it();

	pretzel_logic();
#ifdef USE_HATS
	v += hats;
#endif
#ifdef USE_HELPER
	v += helper();
#endif
#ifdef USE_STAT
	v += stat_count;
#endif
#ifdef USE_MISSING
	v += no_such_symbol;
#endif
	return v;
}
