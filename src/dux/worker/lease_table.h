// The leases a worker keeps for its coordinators' queries (docs/cluster.md, "Leases"): which
// running fragments and tables (exchange buckets, broadcast sides) belong to which lease, when
// its coordinator last spoke about it, and which leases have expired. Bookkeeping only: the
// worker cancels and drops what an expired lease held.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "dux/common/status.h"

namespace dux::worker {

/// Thread-safe. The clock is injected so that the expiry rule can be tested without waiting.
class LeaseTable {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;

  /// A lease expires when it has not been renewed for `timeout` (> 0).
  explicit LeaseTable(std::chrono::milliseconds timeout, Now now = Clock::now);

  std::chrono::milliseconds timeout() const { return timeout_; }

  /// Its coordinator spoke about `lease`: it lives until `timeout` from now (a lease not seen
  /// before starts now). FailedPrecondition, naming the lease, when it has expired: nothing
  /// may be held for it any more. An empty lease is no lease: always OK, nothing recorded.
  Status Renew(const std::string& lease);

  /// `table` belongs to `lease` from now on. Does not renew a known lease (a peer's bucket
  /// push is no word from the coordinator); an unknown one starts now. Fails as Renew does,
  /// and as CheckAccess does when another lease holds `table`.
  Status AddTable(const std::string& lease, const std::string& table);

  /// Whether a request under `lease` (maybe empty) may read, fill or drop `table`: OK unless
  /// another lease holds it, then PermissionDenied naming the table but not the other lease
  /// (a lease id lets its holder act for that query). A table no lease holds is anyone's.
  Status CheckAccess(const std::string& lease, const std::string& table) const;
  /// The running fragment `query_id` belongs to `lease`. Fails as Renew does.
  Status AddQuery(const std::string& lease, const std::string& query_id);

  /// True when `lease` is empty, or live and holding `table`: false once it has expired, so
  /// that a table made while its lease expired can be dropped by its maker.
  bool Holds(const std::string& lease, const std::string& table) const;

  /// `table` is gone (or was never made): the lease no longer holds it.
  void RemoveTable(const std::string& table);
  /// Its coordinator dropped `table` (made or not): it cannot come back under `lease`
  /// (AddTable refuses it), so that a peer's push still on its way when a failed query cleans
  /// up does not leave a bucket behind. A table the drop could not remove stays held (its
  /// lease's expiry drops it). Nothing for an empty lease.
  void Dropped(const std::string& lease, const std::string& table);
  /// The fragment `query_id` of `lease` has ended.
  void RemoveQuery(const std::string& lease, const std::string& query_id);

  /// What an expired lease held when it expired.
  struct Expired {
    std::string lease;
    std::vector<std::string> queries;  ///< running fragments, to cancel
    std::vector<std::string> tables;   ///< buckets and broadcast tables, to drop
    double silent_seconds = 0;         ///< since its coordinator last spoke about it
  };

  /// Removes the leases not renewed within the timeout and returns those that held anything
  /// (a lease whose query ended normally holds nothing and goes quietly). Every lease
  /// removed is remembered as expired (Renew, AddTable and AddQuery refuse it) for at least
  /// ten timeouts and ten minutes.
  std::vector<Expired> TakeExpired();

  /// Leases held now (not expired).
  size_t size() const;

 private:
  struct Lease {
    Clock::time_point renewed;
    std::set<std::string> queries;
    std::set<std::string> tables;
    std::set<std::string> dropped;  // see Dropped
  };
  /// The live lease `lease`, created now when new; null when it has expired.
  Lease* FindOrStart(const std::string& lease);
  Status ExpiredError(const std::string& lease) const;
  Status CheckAccessLocked(const std::string& lease, const std::string& table) const;

  const std::chrono::milliseconds timeout_;
  const Now now_;
  mutable std::mutex mutex_;
  std::map<std::string, Lease> leases_;               // guarded by mutex_
  std::map<std::string, std::string> table_lease_;    // table -> lease; guarded by mutex_
  std::map<std::string, Clock::time_point> expired_;  // lease -> when; guarded by mutex_
};

}  // namespace dux::worker
