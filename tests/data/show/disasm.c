/* A livepatch for `show --disassemble`: code references to two unexported symbols (a call and
 * a load) and a data reference, which objdump does not disassemble. */
extern int hidden_counter;
extern int hidden_helper(int);
int *counter_address = &hidden_counter;

int patched(int x)
{
	return hidden_helper(x) + hidden_counter;
}

static const char modinfo_lp[] __attribute__((section(".modinfo"), used, aligned(1))) =
	"livepatch=Y";
