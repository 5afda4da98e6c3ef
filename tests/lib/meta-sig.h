/*
 * A journal's whole state as one number, for tests that compare what a reopened journal holds
 * with a reference: every entry's fields and labels (order-independent), the pending deletes,
 * the unfinished intents and the entry count.
 */
#pragma once

#include <stdint.h>

#include "meta/meta.h"

/* The signature of m's state; 0 if it could not be walked. */
uint64_t tu_meta_signature(struct thinsnap_meta *m);
