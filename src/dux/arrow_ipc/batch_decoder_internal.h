// Record batches and dictionary batches as read: IPC field nodes and body buffers checked
// and turned back into arrays.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "dux/arrow_ipc/array_data_internal.h"
#include "dux/arrow_ipc/format/Message_generated.h"
#include "dux/arrow_ipc/ipc_reader.h"
#include "dux/arrow_ipc/schema_codec_internal.h"
#include "dux/common/status.h"

namespace dux::arrow_ipc::internal {

using DictionaryMap = std::map<int64_t, std::shared_ptr<const ArrayData>>;

// Memory of decoded batches. The reader reads each message body once into its own 64-byte
// aligned buffer (whatever the input stream). Every uncompressed buffer whose offset in the
// body is a multiple of 8 is used in place (zero copy): the exported ArrowArray shares
// ownership of the whole body through its private_data. Buffers at unaligned offsets are
// copied; compressed buffers are decompressed into their own allocations (those stored raw,
// with length -1, are used in place). The body lives until the last array pointing into it
// is released, so a consumer keeping one column keeps the whole body.

/// Decodes a verified RecordBatch whose body is `body` into a struct array with one child per
/// field. Checks node and buffer counts, every buffer range, offsets, child lengths, union
/// type ids and dictionary indices. `v4_unions`: union nodes carry a (skipped) validity buffer.
Result<std::shared_ptr<ArrayData>> DecodeRecordBatch(const std::vector<Field>& fields,
                                                     const flatbuf::RecordBatch* batch,
                                                     const std::shared_ptr<const Buffer>& body,
                                                     const DictionaryMap& dictionaries,
                                                     const ReadLimits& limits, bool v4_unions);

}  // namespace dux::arrow_ipc::internal
