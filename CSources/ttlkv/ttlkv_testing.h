/*
 * Test-only hooks, compiled in with -DTTLKV_TESTING. Not installed, not part
 * of the API.
 */
#ifndef TTLKV_TESTING_H
#define TTLKV_TESTING_H

/* Lets n more allocations succeed, fails the next one, then succeeds again.
 * A negative n turns fault injection off. Process-wide. */
void ttlkv_testing_fail_allocation(long n);

/* Epoch records in the process-wide domain, in use or free. */
unsigned ttlkv_testing_epoch_records(void);

#endif
