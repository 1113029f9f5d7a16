// SPDX-License-Identifier: GPL-2.0
/* One half of twins.ko: the statics of twin_body.h with this file's values. */
#define TWIN_NAME "b"
#define TWIN_VALUE 2222
#define TWIN_LABEL 4444
#define TWIN_FACTOR 3
#define TWIN_SHOW twins_b_show
#include "twin_body.h"
