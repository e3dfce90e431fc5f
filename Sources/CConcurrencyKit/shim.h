/* Concurrency Kit, from Debian's libck-dev. Only the C core (CTTLKV) uses it:
 * Swift cannot import over-aligned ck types such as ck_epoch_record, and
 * sees the store only through ttlkv.h. */
#include <ck_epoch.h>
#include <ck_hs.h>
