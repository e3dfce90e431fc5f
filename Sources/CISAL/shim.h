/* Intel's ISA-L (Debian: libisal-dev): the snapshot codec's CRC-64. */
#include <isa-l/crc64.h>
