// The `command` backend: a user's start and stop command templates, run with /bin/sh, which
// covers ssh, containers, Nomad and anything else with a command line (docs/deploy.md).
//
// Placeholders, replaced by shell-quoted values:
//   {worker}      the whole `dux worker ...` command line the pool wants run
//   {dux}         the dux binary
//   {name}        the worker's name in the pool
//   {registry}    the pool's address
//   {token_file}  the file holding the token ('' without a token)
//   {job_id}      (stop only) what the start command printed
// The start command must return once the worker is launched (e.g. `ssh host {worker} &`,
// `ip netns exec ns {worker} >log 2>&1 &`); the last line it prints is the job id (none: the
// name). The stop command gets {job_id} and {name}.
#pragma once

#include <chrono>
#include <map>
#include <mutex>

#include "dux/pool/backend.h"

namespace dux::pool {

struct CommandOptions {
  std::string start;                         ///< required
  std::string stop;                          ///< required
  std::chrono::milliseconds timeout{30000};  ///< for each command to end
};

class CommandBackend final : public Backend {
 public:
  /// InvalidArgument when a template is missing or names an unknown placeholder.
  static Result<std::unique_ptr<CommandBackend>> Make(CommandOptions options);
  std::string name() const override { return "command"; }
  Result<std::string> Start(const WorkerLaunch& launch) override;
  Status Stop(const std::string& job_id) override;
  /// The jobs it started and has not stopped: a template backend cannot ask the machines.
  Result<std::vector<std::string>> List() override;

 private:
  explicit CommandBackend(CommandOptions options) : options_(std::move(options)) {}
  CommandOptions options_;
  std::mutex mu_;
  std::map<std::string, std::string> names_;  ///< job id -> worker name
};

/// `text` with each {key} replaced by ShellQuote(value); InvalidArgument naming an unknown
/// {placeholder}.
Result<std::string> ExpandTemplate(const std::string& text,
                                   const std::map<std::string, std::string>& values);

}  // namespace dux::pool
