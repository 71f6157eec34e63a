#include "network_namespaces.h"

#include <unistd.h>

#include <chrono>
#include <optional>

#include "child_process.h"
#include "subprocess.h"

namespace dux::test {

bool Namespaces::Create(int count, std::string* why) {
  // Names and subnets from the pid, so that two runs at once do not collide.
  const int pid = static_cast<int>(getpid());
  const int base = 1 + (pid % 120) * 2;
  for (int i = 0; i < count; ++i) {
    const std::string id = std::to_string(pid) + std::string(1, static_cast<char>('a' + i));
    Entry e{"dux-test-" + id, "dxh" + id, "dxn" + id, "10.231." + std::to_string(base + i) + ".1",
            "10.231." + std::to_string(base + i) + ".2"};
    if (!Ip({"netns", "add", e.name}, why)) return false;
    entries_.push_back(e);
    if (!Ip({"link", "add", e.host_link, "type", "veth", "peer", "name", e.inner_link}, why) ||
        !Ip({"link", "set", e.inner_link, "netns", e.name}, why) ||
        !Ip({"addr", "add", e.host_address + "/24", "dev", e.host_link}, why) ||
        !Ip({"link", "set", e.host_link, "up"}, why) ||
        !Ip({"-n", e.name, "addr", "add", e.inner_address + "/24", "dev", e.inner_link}, why) ||
        !Ip({"-n", e.name, "link", "set", e.inner_link, "up"}, why) ||
        !Ip({"-n", e.name, "link", "set", "lo", "up"}, why) ||
        !Ip({"-n", e.name, "route", "add", "default", "via", e.host_address}, why)) {
      return false;
    }
  }
  return true;
}

Namespaces::~Namespaces() {
  std::string ignored;
  for (const auto& e : entries_) {
    Ip({"netns", "del", e.name}, &ignored);      // takes the inner link with it
    Ip({"link", "del", e.host_link}, &ignored);  // gone already once its peer is
  }
}

bool Namespaces::Ip(const std::vector<std::string>& args, std::string* why) const {
  using namespace std::chrono_literals;
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildOptions options;
  options.stderr_file = scratch_ / "ip.err";
  auto ip = ChildProcess::Start(argv, options, why);
  std::optional<int> code = ip ? ip->Wait(30s) : std::nullopt;
  if (code == 0) return true;
  std::string command;
  for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
  *why = command + " failed (exit " + (code ? std::to_string(*code) : "none") +
         "): " + ReadFile(options.stderr_file);
  return false;
}

}  // namespace dux::test
