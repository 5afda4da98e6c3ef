/*
 * Allocation failure injection for tests linked with
 * -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup (see STYLE.md section 7).
 */
#pragma once

#include <stdbool.h>

/* The n-th allocation from now (0-based) fails; later ones succeed. */
void failalloc_arm(long n);
/* Whether the armed failure happened. */
bool failalloc_fired(void);
void failalloc_disarm(void);
