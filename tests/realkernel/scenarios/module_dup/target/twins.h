/* SPDX-License-Identifier: GPL-2.0 */
/* twins.ko: two source files defining statics of the same names. */
struct twin {
	int value;
	const char *name;
};

int twins_a_show(char *buf, int len);
int twins_b_show(char *buf, int len);
