#include "dux/worker/result_chunk.h"

namespace dux::worker {

void ResultChunk::Append(const char* data, size_t size) {
  if (size == 0) return;
  // Copied bytes only ever grow copied_, so a copied piece that is last ends where it ends.
  if (!pieces_.empty() && pieces_.back().kept == nullptr) {
    pieces_.back().size += size;
  } else {
    pieces_.push_back({nullptr, copied_.size(), size});
  }
  copied_.append(data, size);
  size_ += size;
}

void ResultChunk::AppendKept(const char* data, size_t size,
                             const std::shared_ptr<const void>& keep) {
  if (size == 0) return;
  pieces_.push_back({data, 0, size});
  if (keeps_.empty() || keeps_.back() != keep) keeps_.push_back(keep);
  size_ += size;
}

std::vector<std::string_view> ResultChunk::Pieces() const {
  std::vector<std::string_view> views;
  views.reserve(pieces_.size());
  for (const Piece& p : pieces_) {
    views.emplace_back(p.kept != nullptr ? p.kept : copied_.data() + p.offset, p.size);
  }
  return views;
}

std::string ResultChunk::Flatten() && {
  if (keeps_.empty()) return std::move(copied_);
  std::string all;
  all.reserve(size_);
  for (std::string_view piece : Pieces()) all.append(piece);
  return all;
}

}  // namespace dux::worker
