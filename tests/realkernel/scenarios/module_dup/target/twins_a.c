// SPDX-License-Identifier: GPL-2.0
/* One half of twins.ko: the statics of twin_body.h with this file's values. */
#define TWIN_NAME "a"
#define TWIN_VALUE 1111
#define TWIN_LABEL 3333
#define TWIN_FACTOR 2
#define TWIN_SHOW twins_a_show
#include "twin_body.h"
