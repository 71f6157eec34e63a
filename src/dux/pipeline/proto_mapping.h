// Conversion between the pipeline IR and its protobuf form (proto/dux/v1/pipeline.proto).
#pragma once

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"
#include "dux/v1/pipeline.pb.h"

namespace dux::pipeline {

/// Writes `pipeline`, with its nested pipelines and every location, into `out`, replacing
/// its contents. Never fails: every IR value has a protobuf form. Thread-compatible.
void ToProto(const Pipeline& pipeline, dux::v1::Pipeline* out);

/// Reads a pipeline back, so that FromProto(ToProto(p)) == p with equal locations.
/// A message missing something required (no source, a source, op, sink or value with no
/// alternative of its oneof set, an UNSPECIFIED or unknown enum, a join without its right
/// side, a filter without its predicate, ...) gives InvalidArgument naming what is missing
/// and where (e.g. "op has no verb at ops[1].join.right.ops[0]"); it never crashes.
/// Nothing else is validated: columns and expressions are checked when the pipeline is bound.
Result<Pipeline> FromProto(const dux::v1::Pipeline& message);

/// Writes `script` (attachments and pipeline) into `out`, replacing its contents.
void ToProto(const Script& script, dux::v1::Script* out);

/// Reads a script back; errors as for a pipeline, and a missing pipeline is an error.
Result<Script> FromProto(const dux::v1::Script& message);

}  // namespace dux::pipeline
