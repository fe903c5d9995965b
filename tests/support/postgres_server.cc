#include "tests/support/postgres_server.h"

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/test_support.h"

namespace edocgw::test {

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string tail(const std::string& text, size_t n = 4000) {
  return text.size() <= n ? text : "..." + text.substr(text.size() - n);
}

// The state letter of /proc/PID/stat ('R', 'S', 'Z', ...), and its parent;
// false when no such process.
bool proc_stat(int pid, char& state, int& ppid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');  // the command name may hold ')'
  if (close == std::string::npos || close + 4 >= stat.size()) return false;
  std::istringstream rest(stat.substr(close + 2));
  rest >> state >> ppid;
  return !rest.fail();
}

// Running, not a zombie: nothing reaps a crashed postmaster's zombie when
// init does not, and a zombie holds no lock, socket or shared memory.
bool alive(int pid) {
  char state = 0;
  int ppid = 0;
  return pid > 0 && proc_stat(pid, state, ppid) && state != 'Z' && state != 'X';
}

std::vector<int> children_of(int pid) {
  std::vector<int> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    char state = 0;
    int ppid = 0;
    if (proc_stat(std::stoi(name), state, ppid) && ppid == pid) out.push_back(std::stoi(name));
  }
  return out;
}

// What a watcher runs (with the folder as $1) when the test process ends
// without saying "done": an immediate shutdown (SIGQUIT, as pg_ctl stop -m
// immediate sends), SIGKILL if that takes over 10 s, then the folder goes.
// The postmaster is signalled only if its command line names this folder.
constexpr const char* kWatcherScript = R"sh(
read -r line
[ "$line" = done ] && exit 0
f="$1/data/postmaster.pid"
pid=$(head -n 1 "$f" 2>/dev/null)
ours() { tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$1/data"; }
if [ -n "$pid" ] && ours "$1"; then
  kill -QUIT "$pid"
  i=0
  while [ -f "$f" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
  if [ -f "$f" ] && ours "$1"; then kill -KILL "$pid"; fi
fi
rm -rf "$1"
)sh";

// The process id on the first line of a PostgreSQL lock file, or -1.
int lock_file_pid(const fs::path& p) {
  std::istringstream in(read_file(p));
  int pid = -1;
  in >> pid;
  return in.fail() ? -1 : pid;
}

}  // namespace

PostgresServer::PostgresServer() {
  if (!fs::exists(fs::path(kBinDir) / "initdb"))
    throw std::runtime_error(std::string("PostgreSQL 15 is not installed: ") + kBinDir +
                             "/initdb is missing (scripts/setup.sh installs the Debian package "
                             "postgresql-15)");
  // As root the server runs as the postgres user, which must reach its
  // folder: the build tree may sit in a folder only root can enter (a clone
  // under /root, a mktemp -d folder), so the server's folder then goes in
  // /tmp whatever EDOCGW_TEST_TMP says.
  const char* env = std::getenv("EDOCGW_TEST_TMP");
  const fs::path parent =
      ::geteuid() != 0 && env != nullptr && *env != '\0' ? fs::path(env) : fs::path("/tmp");
  fs::create_directories(parent);
  std::string name = (parent / "pg-XXXXXX").string();
  if (::mkdtemp(name.data()) == nullptr)
    throw std::runtime_error("cannot make a folder in " + parent.string() + ": " +
                             std::strerror(errno));
  root_ = name;
  data_ = root_ / "data";
  sock_ = root_ / "sock";
  try {
    start_watcher();
    if (::geteuid() == 0) {
      const passwd* pw = ::getpwnam("postgres");
      if (pw == nullptr)
        throw std::runtime_error(
            "the test runs as root, which initdb refuses, and there is no postgres user to run "
            "it as (the postgresql-15 package makes one)");
      as_postgres_ = true;
      owner_uid_ = pw->pw_uid;
      owner_gid_ = pw->pw_gid;
    }
    fs::create_directory(sock_);
    if (as_postgres_ && (::chown(root_.c_str(), owner_uid_, owner_gid_) != 0 ||
                         ::chown(sock_.c_str(), owner_uid_, owner_gid_) != 0))
      throw std::runtime_error("cannot give " + root_.string() +
                               " to the postgres user: " + std::strerror(errno));
    // sun_path holds 108 bytes; pg_ctl's -o goes through a shell.
    if ((sock_ / ".s.PGSQL.65535.lock").string().size() >= 100)
      throw std::runtime_error("the socket folder " + sock_.string() +
                               " is too long a path for a Unix socket: set EDOCGW_TEST_TMP to a "
                               "shorter folder");
    if (root_.string().find('\'') != std::string::npos)
      throw std::runtime_error("the folder " + root_.string() + " holds a quote");

    run_tool("initdb",
             {"initdb", "-D", data_.string(), "-A", "trust", "-U", "postgres", "--no-sync",
              "--locale=C", "-E", "UTF8"},
             /*as_owner=*/true);
    // The port was free a moment ago; another test may take it first.
    for (int attempt = 1;; ++attempt) {
      port_ = free_port();
      const size_t before = log().size();
      try {
        start();
        break;
      } catch (const std::runtime_error&) {
        if (attempt == 3 || log().find("could not bind", before) == std::string::npos) throw;
      }
    }
    create_database(kDatabase);
  } catch (...) {
    cleanup();
    throw;
  }
}

PostgresServer::~PostgresServer() {
  cleanup();
}

void PostgresServer::cleanup() noexcept {
  try {
    if (running()) stop();
  } catch (...) {
  }
  try {
    if (running()) kill9();
  } catch (...) {
  }
  std::error_code ec;
  fs::remove_all(root_, ec);
  if (watcher_fd_ >= 0) {
    const char done[] = "done\n";
    (void)!::write(watcher_fd_, done, sizeof done - 1);
    ::close(watcher_fd_);
    watcher_fd_ = -1;
  }
}

// A process outside the test's process tree (CTest kills the tree on a
// timeout; the postmaster is already outside it), holding the read end of
// a pipe: when this process dies without cleanup(), the pipe ends and the
// watcher stops the server and removes the folder.
void PostgresServer::start_watcher() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("cannot make a pipe: ") + std::strerror(errno));
  const std::string folder = root_.string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls: a new session, then a grandchild that
    // init adopts.
    ::setsid();
    if (::fork() != 0) ::_exit(0);
    const int null = ::open("/dev/null", O_RDWR);
    ::dup2(fds[0], 0);
    ::dup2(null, 1);
    ::dup2(null, 2);
    ::close_range(3, ~0U, 0);
    ::execl("/bin/sh", "sh", "-c", kWatcherScript, "sh", folder.c_str(),
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[0]);
  if (pid < 0) {
    ::close(fds[1]);
    throw std::runtime_error(std::string("cannot fork: ") + std::strerror(errno));
  }
  watcher_fd_ = fds[1];
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

std::string PostgresServer::dsn(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database + " user=postgres";
}

std::string PostgresServer::create_database(const std::string& name) {
  run_tool("createdb " + name,
           {"createdb", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "postgres", name},
           /*as_owner=*/false);
  return dsn(name);
}

void PostgresServer::start() {
  remove_stale_lock_files();
  const std::string options = "-k '" + sock_.string() + "' -p " + std::to_string(port_) +
                              " -c listen_addresses=127.0.0.1 -c fsync=on";
  try {
    run_tool("pg_ctl start",
             {"pg_ctl", "-D", data_.string(), "-l", (root_ / "server.log").string(), "-o", options,
              "-w", "-t", "30", "start"},
             /*as_owner=*/true);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + "\nserver log:\n" + tail(log()));
  }
}

void PostgresServer::stop() {
  if (!running()) return;
  run_tool("pg_ctl stop",
           {"pg_ctl", "-D", data_.string(), "-m", "immediate", "-w", "-t", "30", "stop"},
           /*as_owner=*/true);
}

void PostgresServer::kill9() {
  const int pid = postmaster_pid();
  if (pid < 0) return;
  const std::vector<int> children = children_of(pid);
  ::kill(pid, SIGKILL);
  for (int child : children) ::kill(child, SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    bool any = alive(pid);
    for (int child : children) any = any || alive(child);
    if (!any) return;
    if (std::chrono::steady_clock::now() > deadline)
      throw std::runtime_error("the PostgreSQL server (postmaster " + std::to_string(pid) +
                               ") is still running 10 s after SIGKILL");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

int PostgresServer::postmaster_pid() const {
  const int pid = lock_file_pid(data_ / "postmaster.pid");
  return alive(pid) ? pid : -1;
}

bool PostgresServer::running() const {
  return postmaster_pid() > 0;
}

std::string PostgresServer::log() const {
  return read_file(root_ / "server.log");
}

// After a crash the lock files name a dead postmaster. The server sees
// past a dead process id itself, but not past a zombie nobody reaped.
void PostgresServer::remove_stale_lock_files() {
  for (const fs::path& p :
       {data_ / "postmaster.pid", sock_ / (".s.PGSQL." + std::to_string(port_) + ".lock")}) {
    std::error_code ec;
    if (fs::exists(p, ec) && !alive(lock_file_pid(p))) fs::remove(p, ec);
  }
}

void PostgresServer::run_tool(const std::string& what, const std::vector<std::string>& args,
                              bool as_owner) {
  std::vector<std::string> argv;
  if (as_owner && as_postgres_) {
    const char* runuser = fs::exists("/usr/sbin/runuser") ? "/usr/sbin/runuser" : "/sbin/runuser";
    argv = {runuser, "-u", "postgres", "--"};
  }
  argv.push_back((fs::path(kBinDir) / args.at(0)).string());
  argv.insert(argv.end(), args.begin() + 1, args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  const fs::path out_path = root_ / "tool.log";
  const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) throw std::runtime_error("cannot write " + out_path.string());
  const std::string cwd = root_.string();
  const pid_t pid = ::fork();
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec. The server must
    // not inherit the test's descriptors (CTest's pipes, connections).
    const int in = ::open("/dev/null", O_RDONLY);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(out, 2);
    ::close_range(3, ~0U, 0);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    ::execv(cargv[0], cargv.data());
    ::_exit(127);
  }
  ::close(out);
  if (pid < 0) throw std::runtime_error(what + ": fork failed: " + std::strerror(errno));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
  const std::string how = WIFEXITED(status) ? "exit code " + std::to_string(WEXITSTATUS(status))
                                            : "signal " + std::to_string(WTERMSIG(status));
  throw std::runtime_error(what + " failed (" + how + "): " + argv.front() + "; its output:\n" +
                           tail(read_file(out_path)));
}

}  // namespace edocgw::test
