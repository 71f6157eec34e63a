#include "dux/pool/command_backend.h"

#include "dux/pool/command_runner.h"

namespace dux::pool {

namespace {

bool IsKeyChar(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }

std::map<std::string, std::string> Values(const WorkerLaunch& launch) {
  std::string worker;
  for (const auto& a : launch.argv) worker += (worker.empty() ? "" : " ") + ShellQuote(a);
  return {{"worker", worker},
          {"dux", launch.argv.empty() ? "" : ShellQuote(launch.argv[0])},
          {"name", ShellQuote(launch.name)},
          {"registry", ShellQuote(launch.registry)},
          {"token_file", ShellQuote(launch.token_file)}};
}

}  // namespace

Result<std::string> ExpandTemplate(const std::string& text,
                                   const std::map<std::string, std::string>& values) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    size_t end = i + 1;
    while (text[i] == '{' && end < text.size() && IsKeyChar(text[end])) ++end;
    if (text[i] != '{' || end == i + 1 || end >= text.size() || text[end] != '}') {
      out += text[i++];
      continue;
    }
    std::string key = text.substr(i + 1, end - i - 1);
    auto it = values.find(key);
    if (it == values.end()) {
      std::string known;
      for (const auto& [k, v] : values) known += (known.empty() ? "{" : ", {") + k + "}";
      return Status::InvalidArgument("unknown placeholder {" + key + "} in \"" + text +
                                     "\" (known: " + known + ")");
    }
    out += it->second;
    i = end + 1;
  }
  return out;
}

Result<std::unique_ptr<CommandBackend>> CommandBackend::Make(CommandOptions options) {
  if (options.start.empty() || options.stop.empty()) {
    return Status::InvalidArgument("the command backend needs --start-command and --stop-command");
  }
  WorkerLaunch probe;
  auto values = Values(probe);
  DUX_RETURN_NOT_OK(ExpandTemplate(options.start, values).status());
  values["job_id"] = "";
  DUX_RETURN_NOT_OK(ExpandTemplate(options.stop, values).status());
  return std::unique_ptr<CommandBackend>(new CommandBackend(std::move(options)));
}

Result<std::string> CommandBackend::Start(const WorkerLaunch& launch) {
  DUX_ASSIGN_OR_RETURN(std::string command, ExpandTemplate(options_.start, Values(launch)));
  auto run = RunCommand({"/bin/sh", "-c", command}, options_.timeout);
  if (!run.ok()) {
    return Status(run.status().code(), "command backend: start command: " + run.status().message());
  }
  if (run->exit_code != 0) {
    std::string why = LastLine(run->err);
    return Status::Unavailable("command backend: start command exited " +
                               std::to_string(run->exit_code) + (why.empty() ? "" : ": " + why));
  }
  std::string id = LastLine(run->out);
  if (id.empty()) id = launch.name;
  std::lock_guard lock(mu_);
  names_[id] = launch.name;
  return id;
}

Status CommandBackend::Stop(const std::string& job_id) {
  std::string name;
  {
    std::lock_guard lock(mu_);
    auto it = names_.find(job_id);
    if (it == names_.end()) return Status::OK();
    name = it->second;
    names_.erase(it);
  }
  WorkerLaunch launch;
  launch.name = name;
  auto values = Values(launch);
  values["job_id"] = ShellQuote(job_id);
  DUX_ASSIGN_OR_RETURN(std::string command, ExpandTemplate(options_.stop, values));
  auto run = RunCommand({"/bin/sh", "-c", command}, options_.timeout);
  if (!run.ok()) {
    return Status(run.status().code(), "command backend: stop command: " + run.status().message());
  }
  if (run->exit_code != 0) {
    return Status::Unavailable("command backend: stop command exited " +
                               std::to_string(run->exit_code) + ": " + LastLine(run->err));
  }
  return Status::OK();
}

Result<std::vector<std::string>> CommandBackend::List() {
  std::lock_guard lock(mu_);
  std::vector<std::string> ids;
  for (const auto& [id, name] : names_) ids.push_back(id);
  return ids;
}

}  // namespace dux::pool
