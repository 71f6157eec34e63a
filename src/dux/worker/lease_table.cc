#include "dux/worker/lease_table.h"

#include <algorithm>

namespace dux::worker {

LeaseTable::LeaseTable(std::chrono::milliseconds timeout, Now now)
    : timeout_(timeout), now_(std::move(now)) {}

Status LeaseTable::ExpiredError(const std::string& lease) const {
  return Status::FailedPrecondition("lease " + lease +
                                    " has expired: its coordinator was not heard from within " +
                                    std::to_string(timeout_.count()) + " ms");
}

LeaseTable::Lease* LeaseTable::FindOrStart(const std::string& lease) {
  if (expired_.count(lease) != 0) return nullptr;
  auto [it, started] = leases_.try_emplace(lease);
  if (started) it->second.renewed = now_();
  return &it->second;
}

Status LeaseTable::Renew(const std::string& lease) {
  if (lease.empty()) return Status::OK();
  std::lock_guard lock(mutex_);
  Lease* held = FindOrStart(lease);
  if (!held) return ExpiredError(lease);
  held->renewed = now_();
  return Status::OK();
}

Status LeaseTable::CheckAccessLocked(const std::string& lease, const std::string& table) const {
  auto owner = table_lease_.find(table);
  if (owner == table_lease_.end() || owner->second == lease) return Status::OK();
  return Status(StatusCode::kPermissionDenied,
                "table \"" + table + "\" belongs to another query on this worker");
}

Status LeaseTable::CheckAccess(const std::string& lease, const std::string& table) const {
  std::lock_guard lock(mutex_);
  return CheckAccessLocked(lease, table);
}

Status LeaseTable::AddTable(const std::string& lease, const std::string& table) {
  std::lock_guard lock(mutex_);
  DUX_RETURN_NOT_OK(CheckAccessLocked(lease, table));
  if (lease.empty()) return Status::OK();
  Lease* held = FindOrStart(lease);
  if (!held) return ExpiredError(lease);
  if (held->dropped.count(table) != 0) {
    return Status::FailedPrecondition("table \"" + table + "\" was dropped by its query");
  }
  held->tables.insert(table);
  table_lease_[table] = lease;
  return Status::OK();
}

Status LeaseTable::AddQuery(const std::string& lease, const std::string& query_id) {
  if (lease.empty()) return Status::OK();
  std::lock_guard lock(mutex_);
  Lease* held = FindOrStart(lease);
  if (!held) return ExpiredError(lease);
  held->queries.insert(query_id);
  return Status::OK();
}

bool LeaseTable::Holds(const std::string& lease, const std::string& table) const {
  if (lease.empty()) return true;
  std::lock_guard lock(mutex_);
  auto it = leases_.find(lease);
  return it != leases_.end() && it->second.tables.count(table) != 0;
}

void LeaseTable::RemoveTable(const std::string& table) {
  std::lock_guard lock(mutex_);
  auto owner = table_lease_.find(table);
  if (owner == table_lease_.end()) return;
  auto lease = leases_.find(owner->second);
  if (lease != leases_.end()) lease->second.tables.erase(table);
  table_lease_.erase(owner);
}

void LeaseTable::Dropped(const std::string& lease, const std::string& table) {
  if (lease.empty()) return;
  std::lock_guard lock(mutex_);
  if (Lease* held = FindOrStart(lease)) held->dropped.insert(table);
}

void LeaseTable::RemoveQuery(const std::string& lease, const std::string& query_id) {
  if (lease.empty()) return;
  std::lock_guard lock(mutex_);
  auto it = leases_.find(lease);
  if (it != leases_.end()) it->second.queries.erase(query_id);
}

std::vector<LeaseTable::Expired> LeaseTable::TakeExpired() {
  std::vector<Expired> expired;
  std::lock_guard lock(mutex_);
  const Clock::time_point now = now_();
  for (auto it = leases_.begin(); it != leases_.end();) {
    const Lease& lease = it->second;
    if (now - lease.renewed <= timeout_) {
      ++it;
      continue;
    }
    if (!lease.queries.empty() || !lease.tables.empty()) {
      Expired e{it->first,
                {lease.queries.begin(), lease.queries.end()},
                {lease.tables.begin(), lease.tables.end()},
                std::chrono::duration<double>(now - lease.renewed).count()};
      expired.push_back(std::move(e));
    }
    for (const auto& table : lease.tables) table_lease_.erase(table);
    expired_[it->first] = now;
    it = leases_.erase(it);
  }
  // An expired lease is refused long after any call of its dead coordinator could still be
  // on its way; then forgotten, so that the record stays bounded.
  const auto remember = std::max<Clock::duration>(10 * timeout_, std::chrono::minutes(10));
  std::erase_if(expired_, [&](const auto& e) { return now - e.second > remember; });
  return expired;
}

size_t LeaseTable::size() const {
  std::lock_guard lock(mutex_);
  return leases_.size();
}

}  // namespace dux::worker
