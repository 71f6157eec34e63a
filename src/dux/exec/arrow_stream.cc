#include "dux/exec/arrow_stream.h"

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "dux/arrow_ipc/arrow_c.h"
#include "dux/common/library_callback.h"

namespace dux::exec {

namespace {

struct Stream {
  std::unique_ptr<ArrowBatchSource> source;
  std::string last_error;
  // DuckDB 1.4's duckdb_arrow_scan never releases the schemas it asks for, so each one is
  // owned here until the stream is released, and DuckDB gets a view whose release does
  // nothing.
  std::vector<std::unique_ptr<arrow_ipc::SchemaOwner>> schemas;

  static Stream* Of(ArrowArrayStream* s) { return static_cast<Stream*>(s->private_data); }

  static int GetSchema(ArrowArrayStream* s, ArrowSchema* out) {
    auto owner = std::make_unique<arrow_ipc::SchemaOwner>();
    Status st = Of(s)->source->ExportSchema(owner->out());
    if (!st.ok()) {
      Of(s)->last_error = st.message();
      return EINVAL;
    }
    *out = *owner->get();
    out->release = LibraryCallback<ReleaseView>::Call;
    Of(s)->schemas.push_back(std::move(owner));
    return 0;
  }
  static int GetNext(ArrowArrayStream* s, ArrowArray* out) {
    auto more = Of(s)->source->Next(out);
    if (!more.ok()) {
      Of(s)->last_error = more.status().message();
      return EIO;
    }
    if (!*more) out->release = nullptr;  // the end of the stream, as the interface marks it
    return 0;
  }
  // A schema view's release: the schema itself stays owned by `schemas`.
  static void ReleaseView(ArrowSchema* view) { view->release = nullptr; }
  static const char* GetLastError(ArrowArrayStream* s) {
    return Of(s)->last_error.empty() ? nullptr : Of(s)->last_error.c_str();
  }
  static void Release(ArrowArrayStream* s) {
    delete Of(s);
    s->release = nullptr;
  }
};

}  // namespace

void ExportArrowStream(std::unique_ptr<ArrowBatchSource> source, ArrowArrayStream* stream) {
  *stream = ArrowArrayStream{};
  stream->get_schema = LibraryCallback<Stream::GetSchema>::Call;
  stream->get_next = LibraryCallback<Stream::GetNext>::Call;
  stream->get_last_error = LibraryCallback<Stream::GetLastError>::Call;
  stream->release = LibraryCallback<Stream::Release>::Call;
  stream->private_data = new Stream{std::move(source), {}, {}};
}

}  // namespace dux::exec
