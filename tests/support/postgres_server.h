// tests/support/postgres_server.h: a real PostgreSQL 15 server for a test,
// from Debian's postgresql-15 package, started in a fresh folder and gone
// with the object.
//
// The constructor runs initdb (trust authentication, superuser "postgres",
// --no-sync: a test cluster need not survive a power loss between initdb
// and its start), starts the server with pg_ctl on a free loopback port
// (TCP on 127.0.0.1 only, its socket in the folder, fsync=on) and creates
// the database "edocgw_test". The destructor stops it (pg_ctl stop -m
// immediate) and removes the folder.
//
// - Root: initdb refuses to run as root, so when the test runs as root the
//   tools run as the package's `postgres` user (runuser -u postgres) in a
//   folder chown'ed to it; otherwise they run as the caller.
// - Folder: a new pg-XXXXXX under /tmp when the test runs as root (the
//   postgres user must reach it, and a build tree may sit in a folder only
//   root can enter), else under $EDOCGW_TEST_TMP when set (CTest sets it),
//   else /tmp. It holds data/ (the cluster), sock/ (the Unix socket),
//   server.log and tool.log (the last tool's output).
// - Failures: the constructor and start() throw std::runtime_error with the
//   tool's output and the server log's tail, which fails the test (never a
//   skip: scripts/setup.sh installs postgresql-15); a missing
//   /usr/lib/postgresql/15/bin/initdb says so.
// - Thread safety: none; one thread drives a server. The server itself
//   serves any number of connections.
// - A test process killed before the destructor runs (a CTest timeout, a
//   crash) does not leave the server behind: a watcher process, outside the
//   test's process tree, sees the test's end of a pipe close, shuts the
//   server down (SIGQUIT, then SIGKILL after 10 s) and removes the folder.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace edocgw::test {

class PostgresServer {
 public:
  static constexpr const char* kBinDir = "/usr/lib/postgresql/15/bin";
  static constexpr const char* kDatabase = "edocgw_test";

  PostgresServer();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // "host=127.0.0.1 port=N dbname=DATABASE user=postgres": TCP, so that a
  // stopped server is a refused connection and a killed one a reset.
  std::string dsn(const std::string& database = kDatabase) const;
  // Creates an empty database and returns its DSN.
  std::string create_database(const std::string& name);
  int port() const { return port_; }
  const std::filesystem::path& folder() const { return root_; }

  // pg_ctl stop -m immediate: the server ends every connection at once,
  // without a checkpoint (start() then recovers from the WAL).
  void stop();
  // pg_ctl start -w on the same data and port, after stop() or kill9().
  void start();
  // A crash: SIGKILL to the postmaster, then to its children (which would
  // otherwise linger until they notice), and waits until all are gone.
  // Nothing is flushed or cleaned; start() recovers.
  void kill9();
  bool running() const;
  // The postmaster's process id, or -1 when none runs.
  int postmaster_pid() const;
  // The server's log (everything the postmaster and backends wrote).
  std::string log() const;

 private:
  // Runs a tool of kBinDir (as `postgres` when root if `as_owner`); throws
  // on a nonzero exit with `what` and the tool's output.
  void run_tool(const std::string& what, const std::vector<std::string>& args, bool as_owner);
  void remove_stale_lock_files();
  void start_watcher();
  void cleanup() noexcept;

  std::filesystem::path root_, data_, sock_;
  int port_ = 0;
  bool as_postgres_ = false;  // root: the tools run as the postgres user
  unsigned owner_uid_ = 0, owner_gid_ = 0;
  int watcher_fd_ = -1;  // the write end of the watcher's pipe
};

}  // namespace edocgw::test
