// libpq, loaded on first use. dux calls it only through these pointers, so that a process
// that never talks to PostgreSQL never loads it: libpq brings about twenty libraries
// (Kerberos, LDAP, GnuTLS, ...) whose loading was about 4 ms of every dux start
// (BENCHMARKS.md). Types and constants still come from libpq-fe.h.
#pragma once

#include <libpq-fe.h>

#include "dux/common/status.h"

namespace dux::pg {

// clang-format off
#define DUX_LIBPQ_FUNCTIONS(X)                                                              \
  X(PQconnectdb) X(PQfinish) X(PQstatus) X(PQerrorMessage) X(PQsetNoticeProcessor)         \
  X(PQsetClientEncoding) X(PQescapeLiteral) X(PQfreemem) X(PQexec) X(PQexecParams)         \
  X(PQgetResult) X(PQclear) X(PQresultStatus) X(PQresultErrorField) X(PQcmdTuples)         \
  X(PQntuples) X(PQnfields) X(PQgetvalue) X(PQgetlength) X(PQgetisnull) X(PQgetCopyData)   \
  X(PQputCopyData) X(PQputCopyEnd) X(PQgetCancel) X(PQcancel) X(PQfreeCancel)
// clang-format on

/// The functions of libpq dux uses, each named as in libpq-fe.h.
struct Libpq {
#define DUX_LIBPQ_POINTER(name) decltype(&::name) name = nullptr;
  DUX_LIBPQ_FUNCTIONS(DUX_LIBPQ_POINTER)
#undef DUX_LIBPQ_POINTER
};

/// Loads libpq once per process (thread-safe); Unavailable with the loader's reason when
/// it cannot be loaded.
Result<const Libpq*> LoadLibpq();

/// libpq once LoadLibpq succeeded: every PGconn and PGresult comes from there, so code that
/// holds one may call this.
const Libpq& Pq();

}  // namespace dux::pg
