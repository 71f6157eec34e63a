// Validity and boolean bitmaps of Arrow arrays (LSB first): their size, one bit, and the
// number of set bits in a range.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>

namespace dux::arrow_ipc::internal {

/// Bytes that hold `bits` bits.
inline int64_t BitmapBytes(int64_t bits) { return bits / 8 + (bits % 8 != 0 ? 1 : 0); }

/// Bit `i` of `bits`.
inline bool GetBit(const uint8_t* bits, int64_t i) { return (bits[i >> 3] >> (i & 7)) & 1; }

/// The set bits among `length` bits of `bits` from bit `offset`.
inline int64_t CountSetBits(const uint8_t* bits, int64_t offset, int64_t length) {
  int64_t count = 0;
  int64_t i = offset;
  int64_t end = offset + length;
  for (; i < end && (i & 7) != 0; ++i) count += GetBit(bits, i);
  for (; i + 64 <= end; i += 64) {
    uint64_t word;
    std::memcpy(&word, bits + (i >> 3), 8);
    count += std::popcount(word);
  }
  for (; i < end; ++i) count += GetBit(bits, i);
  return count;
}

}  // namespace dux::arrow_ipc::internal
