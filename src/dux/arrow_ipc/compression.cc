// LZ4 frame and Zstandard through their C libraries.
#include <lz4frame.h>
#include <zstd.h>

#include <memory>
#include <string>

#include "dux/arrow_ipc/compression_internal.h"

namespace dux::arrow_ipc::internal {

namespace {

struct Lz4DecompressionContextDeleter {
  void operator()(LZ4F_dctx* ctx) const { LZ4F_freeDecompressionContext(ctx); }
};

Status Lz4Compress(const uint8_t* data, int64_t size, std::vector<uint8_t>* out) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.contentSize = static_cast<unsigned long long>(size);
  size_t bound = LZ4F_compressFrameBound(static_cast<size_t>(size), &prefs);
  size_t start = out->size();
  out->resize(start + bound);
  size_t n =
      LZ4F_compressFrame(out->data() + start, bound, data, static_cast<size_t>(size), &prefs);
  if (LZ4F_isError(n)) {
    return Status::Internal(std::string("ipc: lz4 compression failed: ") + LZ4F_getErrorName(n));
  }
  out->resize(start + n);
  return Status::OK();
}

Status Lz4Decompress(const uint8_t* src, int64_t src_size, uint8_t* dst, int64_t dst_size) {
  LZ4F_dctx* raw = nullptr;
  size_t rc = LZ4F_createDecompressionContext(&raw, LZ4F_VERSION);
  if (LZ4F_isError(rc)) return Status::Internal("ipc: cannot create an lz4 context");
  std::unique_ptr<LZ4F_dctx, Lz4DecompressionContextDeleter> ctx(raw);
  int64_t consumed = 0, produced = 0;
  while (true) {
    size_t out_avail = static_cast<size_t>(dst_size - produced);
    size_t in_avail = static_cast<size_t>(src_size - consumed);
    // LZ4F wants a non-null destination even when nothing is left to write.
    uint8_t spare = 0;
    uint8_t* out = out_avail > 0 ? dst + produced : &spare;
    rc = LZ4F_decompress(ctx.get(), out, &out_avail, src + consumed, &in_avail, nullptr);
    if (LZ4F_isError(rc)) {
      return {StatusCode::kDataLoss,
              std::string("ipc: corrupt lz4 frame: ") + LZ4F_getErrorName(rc)};
    }
    if (out == &spare && out_avail > 0) {
      return {StatusCode::kDataLoss, "ipc: lz4 frame larger than its declared length"};
    }
    produced += static_cast<int64_t>(out_avail);
    consumed += static_cast<int64_t>(in_avail);
    if (rc == 0) break;  // frame complete
    if (in_avail == 0 && out_avail == 0) {
      return {StatusCode::kDataLoss, "ipc: truncated lz4 frame"};
    }
  }
  if (produced != dst_size) {
    return {StatusCode::kDataLoss, "ipc: lz4 frame holds " + std::to_string(produced) +
                                       " bytes, expected " + std::to_string(dst_size)};
  }
  if (consumed != src_size) {
    return {StatusCode::kDataLoss, "ipc: trailing bytes after an lz4 frame"};
  }
  return Status::OK();
}

Status ZstdCompress(const uint8_t* data, int64_t size, std::vector<uint8_t>* out) {
  size_t bound = ZSTD_compressBound(static_cast<size_t>(size));
  size_t start = out->size();
  out->resize(start + bound);
  size_t n = ZSTD_compress(out->data() + start, bound, data, static_cast<size_t>(size), 1);
  if (ZSTD_isError(n)) {
    return Status::Internal(std::string("ipc: zstd compression failed: ") + ZSTD_getErrorName(n));
  }
  out->resize(start + n);
  return Status::OK();
}

Status ZstdDecompress(const uint8_t* src, int64_t src_size, uint8_t* dst, int64_t dst_size) {
  uint8_t spare = 0;
  size_t n = ZSTD_decompress(dst_size > 0 ? dst : &spare, static_cast<size_t>(dst_size), src,
                             static_cast<size_t>(src_size));
  if (ZSTD_isError(n)) {
    return {StatusCode::kDataLoss, std::string("ipc: corrupt zstd frame: ") + ZSTD_getErrorName(n)};
  }
  if (static_cast<int64_t>(n) != dst_size) {
    return {StatusCode::kDataLoss, "ipc: zstd frame holds " + std::to_string(n) +
                                       " bytes, expected " + std::to_string(dst_size)};
  }
  return Status::OK();
}

}  // namespace

Status Compress(Compression codec, const uint8_t* data, int64_t size, std::vector<uint8_t>* out) {
  switch (codec) {
    case Compression::kLz4Frame:
      return Lz4Compress(data, size, out);
    case Compression::kZstd:
      return ZstdCompress(data, size, out);
    case Compression::kNone:
      break;
  }
  return Status::Internal("ipc: no codec to compress with");
}

Status CheckDeclaredLength(Compression codec, const uint8_t* src, int64_t src_size,
                           int64_t declared) {
  int64_t bound = codec == Compression::kLz4Frame ? src_size * 255 + 1024
                                                  : (src_size / 4 + 1) * (int64_t{128} << 10);
  if (codec == Compression::kZstd) {
    unsigned long long stated = ZSTD_getFrameContentSize(src, static_cast<size_t>(src_size));
    if (stated == ZSTD_CONTENTSIZE_ERROR) {
      return Status::InvalidArgument("ipc: corrupt zstd frame (no frame header)");
    }
    if (stated != ZSTD_CONTENTSIZE_UNKNOWN && stated != static_cast<unsigned long long>(declared)) {
      return Status(StatusCode::kDataLoss, "ipc: a zstd frame holds " + std::to_string(stated) +
                                               " bytes but the buffer declares " +
                                               std::to_string(declared));
    }
  }
  if (declared > bound) {
    return Status(StatusCode::kDataLoss, "ipc: a compressed buffer of " + std::to_string(src_size) +
                                             " bytes cannot hold the " + std::to_string(declared) +
                                             " bytes it declares");
  }
  return Status::OK();
}

Status Decompress(Compression codec, const uint8_t* src, int64_t src_size, uint8_t* dst,
                  int64_t dst_size) {
  switch (codec) {
    case Compression::kLz4Frame:
      return Lz4Decompress(src, src_size, dst, dst_size);
    case Compression::kZstd:
      return ZstdDecompress(src, src_size, dst, dst_size);
    case Compression::kNone:
      break;
  }
  return Status::Internal("ipc: no codec to decompress with");
}

}  // namespace dux::arrow_ipc::internal
