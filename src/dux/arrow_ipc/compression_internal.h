// Per-buffer body compression of the IPC format: LZ4 frame and Zstandard.
#pragma once

#include <cstdint>
#include <vector>

#include "dux/arrow_ipc/ipc_writer.h"
#include "dux/common/status.h"

namespace dux::arrow_ipc::internal {

/// Appends `size` bytes of `data` compressed with `codec` (not kNone) to `out`.
Status Compress(Compression codec, const uint8_t* data, int64_t size, std::vector<uint8_t>* out);

/// Decompresses `src` into exactly `dst_size` bytes at `dst`; a frame that holds more or
/// fewer bytes, or trailing bytes after it, is a DataLoss error.
/// Refuses a declared uncompressed length that `src_size` compressed bytes cannot hold, before
/// anything is allocated for it: LZ4 expands at most 255 bytes per input byte, ZSTD at most
/// one 128 KiB block per 4 bytes (an RLE block), and a ZSTD frame that states its content
/// size must state this one.
Status CheckDeclaredLength(Compression codec, const uint8_t* src, int64_t src_size,
                           int64_t declared);

Status Decompress(Compression codec, const uint8_t* src, int64_t src_size, uint8_t* dst,
                  int64_t dst_size);

}  // namespace dux::arrow_ipc::internal
