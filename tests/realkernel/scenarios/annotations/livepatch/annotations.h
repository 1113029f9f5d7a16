/* SPDX-License-Identifier: GPL-2.0 */
const void *annotations_dot_table(void);
const void *annotations_dot_max_threads(void);
