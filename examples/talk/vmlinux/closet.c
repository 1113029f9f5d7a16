/* Another file of the toy vmlinux with its own static 'hats': the name is now ambiguous. */
static int hats __attribute__((used)) = 40;

int closet_hats(void)
{
	return hats;
}
