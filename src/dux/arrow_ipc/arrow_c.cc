#include "dux/arrow_ipc/arrow_c.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dux/common/library_callback.h"

namespace dux::arrow_ipc {

namespace {

// The storage behind a copied schema node; children own theirs.
struct CopiedSchema {
  std::string format, name, metadata;
  bool has_metadata = false;
  std::vector<ArrowSchema> children;
  std::vector<ArrowSchema*> child_pointers;
  std::unique_ptr<ArrowSchema> dictionary;
};

// Metadata is int32 count then length-prefixed keys and values: its size is not stored.
size_t MetadataSize(const char* metadata) {
  auto read = [&](size_t at) {
    int32_t v;
    std::memcpy(&v, metadata + at, sizeof v);
    return v;
  };
  size_t at = sizeof(int32_t);
  for (int32_t i = 0, n = read(0); i < n; ++i) {
    at += sizeof(int32_t) + static_cast<size_t>(read(at));  // key
    at += sizeof(int32_t) + static_cast<size_t>(read(at));  // value
  }
  return at;
}

void ReleaseCopy(ArrowSchema* s) {
  auto* copy = static_cast<CopiedSchema*>(s->private_data);
  for (ArrowSchema& child : copy->children) {
    if (child.release) child.release(&child);
  }
  if (copy->dictionary && copy->dictionary->release)
    copy->dictionary->release(copy->dictionary.get());
  delete copy;
  s->release = nullptr;
}

}  // namespace

void CopySchema(const ArrowSchema& in, ArrowSchema* out) {
  auto* copy = new CopiedSchema;
  copy->format = in.format ? in.format : "";
  copy->name = in.name ? in.name : "";
  if (in.metadata) {
    copy->metadata.assign(in.metadata, MetadataSize(in.metadata));
    copy->has_metadata = true;
  }
  copy->children.resize(static_cast<size_t>(in.n_children));
  for (int64_t i = 0; i < in.n_children; ++i) {
    CopySchema(*in.children[i], &copy->children[static_cast<size_t>(i)]);
    copy->child_pointers.push_back(&copy->children[static_cast<size_t>(i)]);
  }
  if (in.dictionary) {
    copy->dictionary = std::make_unique<ArrowSchema>();
    CopySchema(*in.dictionary, copy->dictionary.get());
  }
  *out = ArrowSchema{};
  out->format = copy->format.c_str();
  out->name = in.name ? copy->name.c_str() : nullptr;
  out->metadata = copy->has_metadata ? copy->metadata.data() : nullptr;
  out->flags = in.flags;
  out->n_children = in.n_children;
  out->children = copy->child_pointers.empty() ? nullptr : copy->child_pointers.data();
  out->dictionary = copy->dictionary.get();
  out->release = LibraryCallback<ReleaseCopy>::Call;
  out->private_data = copy;
}

}  // namespace dux::arrow_ipc
