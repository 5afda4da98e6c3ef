/* CRC32C (Castagnoli), as used by the journal's records: SSE4.2 when the CPU has it. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Continues a CRC32C over buf; start with crc = 0. */
uint32_t thinsnap_crc32c(uint32_t crc, const void *buf, size_t len);
