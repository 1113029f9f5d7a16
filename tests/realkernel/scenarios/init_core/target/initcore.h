/* SPDX-License-Identifier: GPL-2.0 */
#ifndef _INITCORE_H
#define _INITCORE_H

int initcore_check(void);	/* initcore_core.c, called once by module init */

#endif /* _INITCORE_H */
