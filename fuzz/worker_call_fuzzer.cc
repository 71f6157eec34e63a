// libFuzzer target: sequences of Worker service calls (pipeline fragments for Execute, Write
// and InsertInto, bucket pushes, table registration, appends, drops, cancels), each a
// protobuf message as a gRPC caller would send it, handed to worker::Worker as
// rpc/worker_service.cc does. See docs/fuzzing.md, "The worker's RPC inputs".
#include <cstddef>
#include <cstdint>

#include "worker_fuzz_harness.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dux::fuzz::WorkerCalls calls;
  // Bytes that are no message, and long sequences, teach the fuzzer nothing: not kept.
  if (!calls.ParseFromArray(data, static_cast<int>(size)) || calls.calls_size() > 8) return -1;
  auto& worker = dux::fuzz::FuzzWorker::Get();
  for (const auto& call : calls.calls()) (void)worker.Call(call);
  worker.Reset();
  return 0;
}
