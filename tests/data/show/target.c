/* The target module of tests/data/show/disasm.c. */
int hidden_counter;

int hidden_helper(int x)
{
	return x + hidden_counter;
}
