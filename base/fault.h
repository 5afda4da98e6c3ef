/*
 * Fault points for tests: `r = THINSNAP_FAULT("meta.append.before_sync");` is 0 outside
 * builds with THINSNAP_FAULT_INJECTION. In those, a point armed by thinsnap_fault_arm() or by
 * the THINSNAP_FAULTS environment variable ("name:action[,name:action...]") fires:
 * action "abort" kills the process with SIGKILL (a crash at exactly that point),
 * "-EIO"/"-ENOSPC"/... (or a negative number) makes the point return that errno.
 * An optional "@N" after the name fires on the N-th hit only (1-based).
 */
#pragma once

#ifdef THINSNAP_FAULT_INJECTION
int thinsnap_fault_hit(const char *name);
/* Arms name with action (as in THINSNAP_FAULTS); NULL name disarms everything. */
int thinsnap_fault_arm(const char *spec);
/* How many times name has been hit since the last arm. */
unsigned thinsnap_fault_hits(const char *name);
#define THINSNAP_FAULT(name) thinsnap_fault_hit(name)
#else
#define THINSNAP_FAULT(name) 0
#endif
