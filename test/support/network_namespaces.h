// Network namespaces for tests that need several hosts on one machine (root only).
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace dux::test {

/// Network namespaces, each tied to the root namespace by a veth pair: host side
/// 10.231.N.1/24, namespace side 10.231.N.2/24, with a default route through the host side
/// (so a namespace reaches every address of the root namespace). Removed on destruction,
/// failures included.
class Namespaces {
 public:
  /// `scratch`: a directory for the output of `ip`, which must outlive this object.
  explicit Namespaces(std::filesystem::path scratch) : scratch_(std::move(scratch)) {}
  Namespaces(const Namespaces&) = delete;
  Namespaces& operator=(const Namespaces&) = delete;

  /// Creates `count` namespaces; false with `*why` when this machine does not allow it.
  bool Create(int count, std::string* why);
  ~Namespaces();

  const std::string& name(int i) const { return entries_[i].name; }
  /// The namespace's own address.
  const std::string& address(int i) const { return entries_[i].inner_address; }
  /// The root namespace's address on the namespace's link.
  const std::string& host_address(int i) const { return entries_[i].host_address; }
  /// The link's device in the root namespace (taking it down cuts the namespace off) and
  /// inside the namespace (where a qdisc shapes what the namespace sends).
  const std::string& host_link(int i) const { return entries_[i].host_link; }
  const std::string& inner_link(int i) const { return entries_[i].inner_link; }

 private:
  struct Entry {
    std::string name, host_link, inner_link, host_address, inner_address;
  };
  // Runs `ip args...`; false, with the command and its stderr in `*why`, when it fails.
  bool Ip(const std::vector<std::string>& args, std::string* why) const;

  std::filesystem::path scratch_;
  std::vector<Entry> entries_;
};

}  // namespace dux::test
