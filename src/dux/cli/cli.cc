#include "dux/cli/cli.h"

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>

#include "dux/cli/commands.h"
#include "dux/cli/exit_code.h"
#include "dux/cli/run_options.h"
#include "dux/rpc/transport.h"

namespace dux::cli {

namespace {

void AddPoolOptions(CLI::App* cmd, PoolCommandOptions* p) {
  cmd->add_option("--backend", p->backend, "local, slurm or command")
      ->check(CLI::IsMember({"local", "slurm", "command"}));
  cmd->add_option("--min", p->min, "workers kept even when idle")->check(CLI::NonNegativeNumber);
  cmd->add_option("--max", p->max, "workers at most")->check(CLI::PositiveNumber);
  cmd->add_option("--idle-shutdown", p->idle_shutdown,
                  "retire a worker idle this many SECONDS (default: 300)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--boot-timeout", p->boot_timeout,
                  "SECONDS a worker may take to join (default: 30)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--heartbeat-ms", p->heartbeat_ms,
                  "how often workers heartbeat (3 missed: lost)");
  cmd->add_option("--worker-listen", p->worker_listen,
                  "HOST:PORT its workers listen on (default: 127.0.0.1:0; other hosts need "
                  "their reachable address and a token)");
  cmd->add_option("--worker-registry-timeout", p->worker_registry_timeout,
                  "a worker exits when the pool has not answered for SECONDS (default: 60)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--worker-idle-exit", p->worker_idle_exit,
                  "a worker exits by itself after SECONDS idle unless the pool retains it "
                  "(default: 30 more than --idle-shutdown)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--worker-arg", p->worker_args,
                  "an argument added to every `dux worker` command (repeatable), e.g. "
                  "--worker-arg=--memory-limit=2GB");
  cmd->add_option("--threads", p->threads, "DuckDB threads of each worker (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--memory-limit", p->memory_limit, "memory limit of each worker, e.g. 4GB");
  cmd->add_option("--registry-address", p->registry_address,
                  "the address workers join (default: the bound one)");
  cmd->add_option("--http", p->http,
                  "serve the status page, /api/ and /metrics on HOST:PORT (a bare PORT: "
                  "127.0.0.1:PORT); --token applies to it too");
  cmd->add_option("--state-dir", p->state_dir,
                  "where the token file and job logs go (default: a temporary directory)");
  cmd->add_flag("--telemetry", p->telemetry, "print pool events as JSON lines on stderr");
  // slurm
  cmd->add_option("--slurm-partition", p->slurm.partition, "slurm: the partition");
  cmd->add_option("--slurm-account", p->slurm.account, "slurm: the account");
  cmd->add_option("--slurm-cpus-per-task", p->slurm.cpus_per_task, "slurm: CPUs of each worker")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--slurm-mem", p->slurm.mem, "slurm: memory of each worker (--mem)");
  cmd->add_option("--slurm-time", p->slurm.time,
                  "slurm: each job's time limit, the last guard (default: 1:00:00)");
  // command
  cmd->add_option("--start-command", p->start_command,
                  "command: starts a worker (placeholders {worker} {dux} {name} {registry} "
                  "{token_file}); prints the job id last");
  cmd->add_option("--stop-command", p->stop_command, "command: stops one ({job_id} {name})");
}

void AddServerOptions(CLI::App* cmd, std::string* listen, std::string* token,
                      std::string* token_file, std::string* cert, std::string* key,
                      std::string* ca) {
  cmd->add_option("--listen", *listen, "HOST:PORT to listen on (port 0: any free port)");
  // $DUX_TOKEN is read by ReadToken, when neither --token nor --token-file is given.
  cmd->add_option("--token", *token, "bearer token every caller must present (or $DUX_TOKEN)");
  cmd->add_option("--token-file", *token_file,
                  "read the bearer token from FILE (keeps it out of `ps`)");
  cmd->add_option("--tls-cert", *cert, "TLS certificate (PEM)");
  cmd->add_option("--tls-key", *key, "TLS private key (PEM)");
  cmd->add_option("--tls-ca", *ca, "with TLS: require client certificates signed by this CA");
}

}  // namespace

int Main(int argc, char** argv) {
  std::unique_ptr<CLI::App> command_line = NewCommandLine();
  CLI::App& app = *command_line;

  RunOptions run;
  CLI::App* run_cmd = AddRunCommand(&app, &run);

  RunOptions explain;
  explain.format = "text";
  CLI::App* explain_cmd = app.add_subcommand(
      "explain", "print the SQL a pipeline runs, or with --analyze how a run of it went");
  AddPipelineOptions(explain_cmd, &explain);
  AddClusterOptions(explain_cmd, &explain.cluster, /*running=*/false);
  explain_cmd->add_flag("--analyze", explain.analyze,
                        "run the pipeline (its result counted, then discarded; a sink writes) "
                        "and print per stage and worker its time, rows, bytes, memory, retries, "
                        "spill and each exchange's skew");
  explain_cmd->add_option("--format", explain.format, "with --analyze: text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));

  WorkerCommandOptions worker;
  CLI::App* worker_cmd =
      app.add_subcommand("worker", "run a worker that executes pipeline fragments");
  AddServerOptions(worker_cmd, &worker.listen, &worker.token, &worker.token_file, &worker.tls_cert,
                   &worker.tls_key, &worker.tls_ca);
  worker_cmd->add_option("--threads", worker.threads, "DuckDB threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  worker_cmd->add_option("--memory-limit", worker.memory_limit,
                         "memory limit of DuckDB and the exchange buckets together, e.g. 4GB");
  worker_cmd->add_option("--temp-dir", worker.temp_dir, "DuckDB's spill directory");
  worker_cmd->add_option("--max-temp-size", worker.max_temp_size,
                         "most the spill directory may hold, e.g. 10GB (default: DuckDB's, 90% "
                         "of the free disk space)");
  worker_cmd->add_option("--allow-dir", worker.allow_dirs,
                         "confine file reads and writes to DIR, a local directory or an "
                         "s3://bucket[/prefix] (repeatable; S3 is then allowed only where listed)");
  worker_cmd
      ->add_option("--lease-timeout", worker.lease_timeout,
                   "cancel the fragments and drop the tables of a query whose coordinator has "
                   "not renewed its lease for SECONDS (default: 30)")
      ->check(CLI::Range(0.05, 86400.0));
  worker_cmd->add_option("--join", worker.join, "register with this registry (HOST:PORT)");
  worker_cmd->add_option("--advertise", worker.advertise,
                         "the address the registry hands out (default: the bound one)");
  // A pool's start command may append its own --listen/--advertise to the worker command it
  // is given (docs/deploy.md): the last one wins.
  for (const char* name : {"--listen", "--advertise"}) {
    worker_cmd->get_option(name)->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
  worker_cmd->add_option("--name", worker.name, "the name to join the registry with (pools)");
  worker_cmd
      ->add_option("--registry-timeout", worker.registry_timeout,
                   "exit when the registry has not answered for SECONDS (default: never)")
      ->check(CLI::NonNegativeNumber);
  worker_cmd
      ->add_option("--idle-exit", worker.idle_exit,
                   "exit after SECONDS with no query, unless the registry retains it "
                   "(default: never)")
      ->check(CLI::NonNegativeNumber);
  worker_cmd->add_option("--http", worker.http,
                         "serve Prometheus metrics at /metrics on HOST:PORT (a bare PORT: "
                         "127.0.0.1:PORT); --token applies to it too");

  ServeCommandOptions serve;
  CLI::App* serve_cmd = app.add_subcommand(
      "serve", "keep a coordinator running: run the pipelines `dux run --server` sends");
  AddServerOptions(serve_cmd, &serve.listen, &serve.token, &serve.token_file, &serve.tls_cert,
                   &serve.tls_key, &serve.tls_ca);
  serve_cmd->get_option("--token")->description(
      "bearer token every client must present, also sent to the workers (or $DUX_TOKEN)");
  serve_cmd
      ->add_option("--workers", serve.cluster.workers,
                   "run on these workers: HOST:PORT,HOST:PORT (or $DUX_WORKERS)")
      ->envname("DUX_WORKERS");
  serve_cmd
      ->add_option("--registry", serve.cluster.registry,
                   "run on the live workers of this registry at start (or $DUX_REGISTRY)")
      ->envname("DUX_REGISTRY");
  serve_cmd
      ->add_option("--local-workers", serve.cluster.local_workers,
                   "start N local workers for the server's lifetime")
      ->check(CLI::PositiveNumber);
  serve_cmd->add_option("--pool", serve.cluster.pool, "run on workers of this pool (or $DUX_POOL)")
      ->envname("DUX_POOL");
  serve_cmd
      ->add_option("--workers-wanted", serve.cluster.workers_wanted,
                   "with --pool: ask it for N workers (default: 1)")
      ->check(CLI::PositiveNumber);
  serve_cmd
      ->add_option("--timeout", serve.cluster.timeout,
                   "seconds each worker's share may take, unless the client gives its own "
                   "--timeout (default: no limit)")
      ->check(CLI::NonNegativeNumber);
  serve_cmd
      ->add_option("--speculation", serve.cluster.speculation,
                   "on: speculative attempts of stragglers, as dux run (default: off)")
      ->check(CLI::IsMember({"on", "off"}));
  serve_cmd
      ->add_option("--broadcast-threshold", serve.cluster.broadcast_threshold,
                   "as dux run --broadcast-threshold")
      ->check(CLI::NonNegativeNumber);
  serve_cmd->add_flag("--telemetry", serve.cluster.telemetry,
                      "print distributed events as JSON lines on stderr");
  serve_cmd->add_option("--threads", serve.threads, "DuckDB threads (default: all cores)")
      ->check(CLI::NonNegativeNumber);
  serve_cmd->add_option("--memory-limit", serve.memory_limit, "DuckDB memory limit, e.g. 4GB");

  RegistryCommandOptions registry;
  CLI::App* registry_cmd = app.add_subcommand("registry", "run a registry that workers join");
  AddServerOptions(registry_cmd, &registry.listen, &registry.token, &registry.token_file,
                   &registry.tls_cert, &registry.tls_key, &registry.tls_ca);
  registry_cmd->add_option("--heartbeat-ms", registry.heartbeat_ms,
                           "how often workers heartbeat (3 missed: dropped)");
  registry_cmd->add_option("--http", registry.http,
                           "serve the status page, its JSON API (/api/) and /metrics on "
                           "HOST:PORT (a bare PORT: 127.0.0.1:PORT); --token applies to it too");

  PoolCommandOptions pool;
  CLI::App* pool_cmd = app.add_subcommand(
      "pool", "run an elastic pool of workers (a registry that starts and stops its workers)");
  AddServerOptions(pool_cmd, &pool.listen, &pool.token, &pool.token_file, &pool.tls_cert,
                   &pool.tls_key, &pool.tls_ca);
  AddPoolOptions(pool_cmd, &pool);
  CLI::App* pool_status_cmd =
      pool_cmd->add_subcommand("status", "list a pool's workers and their state");
  pool_status_cmd->add_option("address", pool.status_address, "the pool's HOST:PORT")->required();
  pool_status_cmd->fallthrough();  // --token, --tls-ca of `dux pool` after `status`

  ClusterFlags workers;
  CLI::App* workers_cmd = app.add_subcommand("workers", "list the workers that can be reached");
  AddClusterOptions(workers_cmd, &workers, /*running=*/false);

  DemoOptions demo;
  CLI::App* demo_cmd =
      app.add_subcommand("demo", "generate a sample parquet dataset and run a pipeline on it");
  demo_cmd->add_option("--dir", demo.dir, "where to write the dataset (default: a temp dir)");
  demo_cmd->add_option("--rows", demo.rows, "rows in the dataset")->check(CLI::PositiveNumber);

  GenerateOptions gen;
  CLI::App* gen_cmd = app.add_subcommand(
      "generate", "write a benchmark dataset (H2O db-benchmark shapes) as parquet files");
  gen_cmd->add_option("dataset", gen.dataset, "groupby, or join (x, small, medium, big)")
      ->required()
      ->check(CLI::IsMember({"groupby", "join"}));
  gen_cmd->add_option("--out", gen.out, "output directory")->required();
  gen_cmd->add_option("--rows", gen.rows, "number of rows")->check(CLI::PositiveNumber);
  gen_cmd->add_option("--files", gen.files, "number of files")->check(CLI::PositiveNumber);

  // CLI11 reports a mistyped subcommand as "A subcommand is required", which hides the typo.
  if (argc > 1 && argv[1][0] != '-') {
    bool known = false;
    for (CLI::App* cmd : {run_cmd, explain_cmd, worker_cmd, serve_cmd, registry_cmd, pool_cmd,
                          workers_cmd, demo_cmd, gen_cmd}) {
      known = known || cmd->check_name(argv[1]);
    }
    if (!known) {
      std::cerr << "dux: unknown subcommand \"" << argv[1] << "\" (see dux --help)\n";
      return 2;
    }
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return UsageError(e);
  }

  rpc::DropGrpcLog();
  Status status;
  if (run_cmd->parsed()) {
    status = Run(run);
  } else if (explain_cmd->parsed()) {
    status = Explain(explain);
  } else if (worker_cmd->parsed()) {
    status = Worker(worker);
  } else if (serve_cmd->parsed()) {
    status = Serve(serve);
  } else if (registry_cmd->parsed()) {
    status = Registry(registry);
  } else if (pool_status_cmd->parsed()) {
    status = PoolStatus(pool);
  } else if (pool_cmd->parsed()) {
    status = Pool(pool);
  } else if (workers_cmd->parsed()) {
    status = Workers(workers);
  } else if (demo_cmd->parsed()) {
    status = Demo(demo);
  } else {
    status = Generate(gen);
  }
  return ExitCode(status);
}

}  // namespace dux::cli
