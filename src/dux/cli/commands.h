// Private to cli/: the subcommands, each in its own file.
#pragma once

#include <string>
#include <vector>

#include "dux/common/status.h"
#include "dux/pipeline/pipeline.h"
#include "dux/pool/slurm_backend.h"

namespace dux::cli {

/// Where a pipeline runs: nowhere else (all empty), or on workers given one of three ways.
struct ClusterFlags {
  std::string workers;     ///< --workers or $DUX_WORKERS: "host:port,host:port"
  std::string registry;    ///< --registry or $DUX_REGISTRY: ask it for the live workers
  int local_workers = 0;   ///< --local-workers N: start N workers for this command
  std::string pool;        ///< --pool or $DUX_POOL: ask this pool for workers
  int workers_wanted = 1;  ///< --workers-wanted: how many to ask the pool for
  double timeout = 0;      ///< --timeout seconds for each worker's share; 0: none
  bool telemetry = false;  ///< --telemetry: events as JSON lines on stderr
  std::string token;       ///< --token or $DUX_TOKEN
  std::string tls_ca;      ///< --tls-ca: talk TLS, trusting this CA
  /// --broadcast-threshold: a join's right side up to this many IPC bytes is broadcast;
  /// -1: coordinator::ClusterOptions' default.
  int64_t broadcast_threshold = -1;
  /// --speculation on|off: speculative attempts of stragglers (coordinator::SpeculationPolicy).
  std::string speculation = "off";
};

struct RunOptions {
  std::string pipeline;           ///< the text given as an argument
  std::string file;               ///< -f: read the pipeline from this file ("-" for stdin)
  std::string format = "table";   ///< run: table, csv, ...; explain: text or json
  bool analyze = false;           ///< explain --analyze: run it and report how it ran
  std::string arrow_compression;  ///< with --format arrow: "", "lz4" or "zstd"
  bool arrow_lossless = false;    ///< with --format arrow: DuckDB's lossless types
  std::string output;             ///< empty: stdout
  int threads = 0;
  std::string memory_limit;
  ClusterFlags cluster;
  pipeline::S3Settings s3;  ///< --s3-*: over the script's s3 statement, setting by setting
  bool progress = false;    ///< --progress: a distributed run's progress as plain lines
  bool quiet = false;       ///< --quiet: no progress line at all
  /// --server or $DUX_SERVER: send the pipeline to this `dux serve` (docs/serve.md) instead
  /// of running it here; cluster.token and cluster.tls_ca reach it.
  std::string server;
};

Status Run(const RunOptions& options);
/// dux run --server: the pipeline text and the run's options go to the server, its output
/// comes back and is written to stdout or --output as a local run writes it.
Status RunServed(const RunOptions& options);
Status Explain(const RunOptions& options);

struct WorkerCommandOptions {
  std::string listen = "127.0.0.1:0";
  std::string advertise;  ///< the address given to the registry; default: the bound one
  int threads = 0;
  std::string memory_limit;
  std::string temp_dir;
  std::string max_temp_size;
  std::vector<std::string> allow_dirs;
  /// --lease-timeout: drop what a query holds once its coordinator has not renewed its lease
  /// for this many seconds (docs/cluster.md, "Leases").
  double lease_timeout = 30;
  std::string token;
  std::string tls_cert, tls_key, tls_ca;
  std::string join;        ///< a registry to join
  std::string token_file;  ///< --token-file: the token, read from this file
  // Set by a pool for the workers it starts (docs/deploy.md):
  std::string name;             ///< --name: sent with Join
  double registry_timeout = 0;  ///< --registry-timeout: exit when the registry has not
                                ///< answered for this many seconds; 0: never
  double idle_exit = 0;         ///< --idle-exit: exit after this many idle seconds; 0: never
  /// --http: serve /metrics on this HOST:PORT (a bare PORT: on 127.0.0.1); empty: no HTTP.
  std::string http;
};
Status Worker(const WorkerCommandOptions& options);

/// The token of --token or --token-file (not both), trailing newline removed.
Result<std::string> ReadToken(const std::string& token, const std::string& token_file);

/// dux serve (docs/serve.md).
struct ServeCommandOptions {
  std::string listen = "127.0.0.1:0";
  /// Required from every client, and sent to the workers (like a worker's own --token).
  std::string token;
  std::string token_file;
  std::string tls_cert, tls_key;
  /// With TLS: clients must present a certificate it signed; also the CA the workers'
  /// certificates are checked against.
  std::string tls_ca;
  /// The workers (--workers, --registry, --local-workers, --pool) and what runs on them
  /// (--timeout, --speculation, --broadcast-threshold, --telemetry); token and tls_ca are
  /// the fields above.
  ClusterFlags cluster;
  int threads = 0;
  std::string memory_limit;
};
/// dux serve: runs the pipelines clients send until SIGTERM/SIGINT.
Status Serve(const ServeCommandOptions& options);

struct RegistryCommandOptions {
  std::string listen = "127.0.0.1:0";
  std::string http;  ///< --http HOST:PORT: the status page, /api/ and /metrics; empty: none
  std::string token;
  std::string token_file;
  std::string tls_cert, tls_key, tls_ca;
  int heartbeat_ms = 1000;
};
Status Registry(const RegistryCommandOptions& options);

struct PoolCommandOptions {
  std::string listen = "127.0.0.1:0";
  std::string token;
  std::string token_file;
  std::string tls_cert, tls_key, tls_ca;
  int heartbeat_ms = 1000;
  std::string backend = "local";
  int min = 0;
  int max = 10;
  double idle_shutdown = 300;
  double boot_timeout = 30;
  std::string worker_listen = "127.0.0.1:0";
  double worker_registry_timeout = 60;
  double worker_idle_exit = 0;  ///< 0: 30 s more than idle_shutdown
  std::vector<std::string> worker_args;
  int threads = 0;
  std::string memory_limit;
  std::string registry_address;  ///< what workers join; default: the bound address
  /// Where the token file (mode 0600) and Slurm job logs go; empty: a fresh temporary
  /// directory, removed at exit. Workers on other machines need it on a shared filesystem
  /// (or a start command that copies {token_file}).
  std::string state_dir;
  std::string http;  ///< --http: the status page, as `dux registry --http`
  bool telemetry = false;
  pool::SlurmOptions slurm;
  std::string start_command, stop_command;
  std::string status_address;  ///< dux pool status ADDR
};
/// dux pool: serves until SIGTERM/SIGINT, then stops every worker it started.
Status Pool(const PoolCommandOptions& options);
/// dux pool status ADDR
Status PoolStatus(const PoolCommandOptions& options);

/// dux workers: the reachable workers and their Info.
Status Workers(const ClusterFlags& flags);

struct DemoOptions {
  std::string dir;  ///< empty: a fresh temporary directory
  int64_t rows = 200000;
};
Status Demo(const DemoOptions& options);

struct GenerateOptions {
  std::string dataset;  ///< "groupby" or "join"
  std::string out;
  int64_t rows = 1000000;
  int files = 8;
};
Status Generate(const GenerateOptions& options);

}  // namespace dux::cli
