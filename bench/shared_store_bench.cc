// bench/shared_store_bench.cc: two gateways on one PostgreSQL against one
// (issue 10's numbers for the shared store).
//
//   build/bench/shared_store_bench PKI_DIR EDOCGW_BINARY [SECONDS] [--backlog N]
//
// Starts a PostgreSQL 15 server of its own (tests/support/postgres_server.h:
// loopback, fsync on) and runs Hướng Hóa's gateway as processes on it, each
// node with its own data-dir, node-id and office folder (a directory
// adapter), delivery-lease 5 s. Every phase gets a fresh database.
//
// (a) one node, (b) two nodes:
//   - durable submission: 10 KB packages POSTed for SECONDS (default 10)
//     from 16 connections (split evenly across the nodes): documents
//     answered 202 per second, while the nodes deliver them as they come;
//   - delivery: a backlog of N documents (default 1500) due at once,
//     delivered per second by the node(s), from their launch until the store
//     holds nothing pending. The backlog is submitted beforehand through a
//     loader node whose adapter hangs (a port that never answers), which is
//     then killed; its leases are let run out before the nodes start.
// Then the ratios two/one.
// (c) failover: a backlog of N/4 documents; two nodes start on it; once
//   node 1 has delivered, it is killed with -9 while it holds leases; the
//   time from the kill until node 2 has delivered everything, beside the
//   delivery-lease and the time node 1's leases still had to run.
//
// One "name: value" per line. The gateways run in process groups of their
// own and are stopped on every exit, SIGINT and SIGTERM included
// (bench/gateway_processes.h, shared with bench/load_bench.cc); the PostgreSQL
// server goes with the bench (its watcher stops it even after a SIGKILL).
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/gateway_processes.h"
#include "edxml/package_builder.h"
#include "store/pg_connection.h"
#include "tests/support/postgres_server.h"
#include "util/bytes.h"
#include "util/time.h"

namespace {

using namespace edocgw;
using namespace edocgw::bench;

constexpr int kConnections = 16;
constexpr int kLeaseSeconds = 5;  // <store delivery-lease>: the least allowed
constexpr double kDrainLimitSeconds = 300;

struct Node {
  fs::path dir;
  pid_t pid = -1;
  int api_port = 0;
  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(api_port) + "/v1/documents";
  }
  fs::path out() const { return dir / "var/out"; }
};

// Writes the config and forks the gateway; started() then waits.
bool launch(Node& n, const std::string& bin, const std::string& config) {
  fs::create_directories(n.dir);
  std::ofstream(n.dir / "gateway.xml") << config;
  n.pid = gateways().spawn(bin, n.dir / "gateway.xml", n.dir / "gateway.log");
  if (n.pid < 0) std::perror("shared_store_bench: fork");
  return n.pid >= 0;
}

// Waits for the node to start (20 s at most) and reads its API port.
bool started(Node& n) {
  Listening ports;
  if (!wait_started(n.pid, n.dir / "gateway.log", std::chrono::seconds(20), ports)) return false;
  n.api_port = ports.api_port;
  return n.api_port != 0;
}

// Hướng Hóa on PostgreSQL as `node_id`. `adapter` is the <adapter name="out">
// element every document is routed through.
std::string node_config(const fs::path& pki, const std::string& dsn, const std::string& node_id,
                        const std::string& adapter) {
  return "<gateway organ-id=\"000.00.12.H50\" name=\"bench\" data-dir=\"var\">\n<identity cert=\"" +
         (pki / "huong-hoa.pem").string() + "\" key=\"" + (pki / "huong-hoa.key").string() +
         "\" chain=\"" + (pki / "ca.pem").string() + "\"/>\n<trust anchors=\"" +
         (pki / "root.pem").string() + "\" crl=\"" + (pki / "crls.pem").string() +
         "\"/>\n<api listen=\"127.0.0.1:0\"><client name=\"bench\" token-sha256=\"" +
         sha256_hex(kToken) + "\"/></api>\n<adapters>" + adapter +
         "</adapters>\n<routes><route to=\"*\" via=\"out\"/></routes>\n"
         "<store type=\"postgresql\" dsn=\"" +
         dsn + "\" node-id=\"" + node_id + "\" delivery-lease=\"" + std::to_string(kLeaseSeconds) +
         "s\"/>\n</gateway>\n";
}

const std::string kOfficeFolder = R"(<adapter name="out" type="directory" path="var/out"/>)";

// A loopback port that takes connections and never answers: a loader
// node's deliveries hang there, so what it accepts stays due.
class BlackHole {
 public:
  BlackHole() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t n = sizeof a;
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::listen(fd_, 512) != 0 || ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &n) != 0)
      throw std::runtime_error("cannot listen on a loopback port");
    port_ = ntohs(a.sin_port);
  }
  ~BlackHole() { ::close(fd_); }
  BlackHole(const BlackHole&) = delete;
  BlackHole& operator=(const BlackHole&) = delete;
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

struct Submission {
  int accepted = 0, failed = 0;
  double elapsed = 0;
};

// POSTs from kConnections connections, connection i to urls[i % size],
// until `seconds` pass or (when `target` > 0) `target` documents were
// accepted.
Submission submit(const std::vector<std::string>& urls, double seconds, int target,
                  std::atomic<int>& next_doc) {
  std::atomic<int> accepted{0}, failed{0};
  const auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kConnections; ++t) {
    threads.emplace_back([&, url = urls[static_cast<size_t>(t) % urls.size()]] {
      CURL* c = curl_easy_init();
      std::string answer;
      while (seconds_since(t0) < seconds && (target == 0 || accepted < target)) {
        const long status = post(c, url, package(next_doc++), answer);
        (status == 202 ? accepted : failed)++;
      }
      curl_easy_cleanup(c);
    });
  }
  for (auto& t : threads) t.join();
  return {accepted.load(), failed.load(), seconds_since(t0)};
}

// The phase's database, for the counts the nodes' deliveries leave there.
class Database {
 public:
  explicit Database(const std::string& dsn) {
    auto c = store::pg::Connection::open(dsn, std::chrono::seconds(5));
    if (!c) throw std::runtime_error(c.error().message);
    c_ = std::move(*c);
  }
  // Recipients not yet delivered (due, leased or waiting to retry).
  std::int64_t pending() {
    return count("SELECT count(*) FROM recipients WHERE state = 'pending'");
  }
  // Leases that still run: pending rows whose next attempt (the lease's
  // end) is after this second.
  std::int64_t live_leases() {
    return count(
        "SELECT count(*) FROM recipients WHERE state = 'pending' AND leased_by <> '' AND "
        "next_attempt_at > " +
        std::to_string(epoch_seconds()));
  }
  // The pending rows `node` holds, and when the last of those leases ends.
  std::pair<std::int64_t, std::int64_t> leases_of(const std::string& node) {
    auto r = c_.exec(
        "SELECT count(*), COALESCE(max(next_attempt_at), 0) FROM recipients "
        "WHERE state = 'pending' AND leased_by = $1",
        {node});
    if (!r) throw std::runtime_error(r.error().message);
    return {number(*r, 0), number(*r, 1)};
  }
  // Recipients recorded as delivered more than once (attempts counts each record).
  std::int64_t recorded_twice() {
    return count("SELECT count(*) FROM recipients WHERE state = 'sent' AND attempts > 1");
  }
  static std::int64_t epoch_seconds() { return now_seconds().time_since_epoch().count(); }

 private:
  static std::int64_t number(const store::pg::Rows& r, int col) {
    auto v = r.int64(0, col);
    if (!v) throw std::runtime_error(v.error().message);
    return *v;
  }
  std::int64_t count(const std::string& sql) {
    auto r = c_.exec(sql);
    if (!r) throw std::runtime_error(r.error().message);
    return number(*r, 0);
  }
  store::pg::Connection c_;
};

struct Options {
  fs::path pki;
  std::string bin;
  double seconds = 10;
  int backlog = 1500;
};

// One phase's folder, database and nodes.
class Phase {
 public:
  Phase(const Options& o, test::PostgresServer& pg, const fs::path& root, const std::string& name)
      : o_(o), dir_(root / name), dsn_(pg.create_database("bench_" + name)), db_(dsn_) {}

  Database& db() { return db_; }

  // Launches `count` nodes delivering to their office folders, all at
  // once, and waits until they are up.
  std::optional<std::vector<Node>> start_nodes(int count) {
    std::vector<Node> nodes(static_cast<size_t>(count));
    for (int i = 0; i < count; ++i) {
      Node& n = nodes[static_cast<size_t>(i)];
      n.dir = dir_ / ("node-" + std::to_string(i + 1));
      if (!launch(n, o_.bin, node_config(o_.pki, dsn_, node_id(i), kOfficeFolder)))
        return std::nullopt;
    }
    for (auto& n : nodes)
      if (!started(n)) return std::nullopt;
    return nodes;
  }
  static std::string node_id(int i) { return "node-" + std::to_string(i + 1); }

  // At least `count` documents due at once: accepted by a loader node whose
  // deliveries hang, which is then killed; returns how many (-1 on a
  // failure) once its leases ran out.
  int make_backlog(int count, std::atomic<int>& next_doc) {
    BlackHole hole;
    const std::string adapter =
        "<adapter name=\"out\" type=\"vdxp\" url=\"http://127.0.0.1:" +
        std::to_string(hole.port()) + "\" system-id=\"huong-hoa\" secret-file=\"" +
        (o_.pki / "huong-hoa.secret").string() + "\" poll=\"1h\" timeout=\"10m\"/>";
    Node loader;
    loader.dir = dir_ / "loader";
    if (!launch(loader, o_.bin, node_config(o_.pki, dsn_, "loader", adapter)) || !started(loader))
      return -1;
    const Submission s = submit({loader.url()}, kDrainLimitSeconds, count, next_doc);
    gateways().kill9(loader.pid);
    if (s.accepted < count) {
      std::cerr << "the loader accepted " << s.accepted << " of " << count << "\n";
      return -1;
    }
    const auto t0 = Steady::now();
    while (db_.live_leases() > 0 && seconds_since(t0) < 2 * kLeaseSeconds + 5) pause_ms(50);
    if (db_.live_leases() != 0 || db_.pending() != s.accepted) {
      std::cerr << "the loader's backlog is not due: " << db_.pending() << " pending of "
                << s.accepted << ", " << db_.live_leases() << " leased\n";
      return -1;
    }
    return s.accepted;
  }

  // Waits until nothing is pending; the seconds since `t0`, or -1.
  double drained_since(Steady::time_point t0) {
    while (db_.pending() > 0) {
      if (seconds_since(t0) > kDrainLimitSeconds) return -1;
      pause_ms(20);
    }
    return seconds_since(t0);
  }

 private:
  const Options& o_;
  fs::path dir_;
  std::string dsn_;
  Database db_;
};

std::set<std::string> delivered_ids(const fs::path& out) {
  std::set<std::string> ids;
  std::error_code ec;
  for (fs::directory_iterator it(out, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name[0] != '.' && it->path().extension() == ".xml") ids.insert(it->path().stem().string());
  }
  return ids;
}

struct Rates {
  double submission = 0;  // docs/s answered 202
  double delivery = 0;    // docs/s of a backlog
};

// Phases (a) and (b): `count` nodes.
std::optional<Rates> measure(const Options& o, test::PostgresServer& pg, const fs::path& root,
                             int count, std::atomic<int>& next_doc) {
  const std::string tag = count == 1 ? "(a) one node" : "(b) two nodes";
  Rates rates;
  {
    Phase phase(o, pg, root, count == 1 ? "a_submit" : "b_submit");
    auto nodes = phase.start_nodes(count);
    if (!nodes) return std::nullopt;
    std::vector<std::string> urls;
    for (const auto& n : *nodes) urls.push_back(n.url());
    const Submission s = submit(urls, o.seconds, 0, next_doc);
    const auto ended = Steady::now();
    const std::int64_t left = phase.db().pending();
    const double drain = phase.drained_since(ended);
    rates.submission = s.accepted / s.elapsed;
    std::printf(
        "%s, durable submission (202) docs/s, %d connections: %.1f (%d in %.1f s, failed %d)\n",
        tag.c_str(), kConnections, rates.submission, s.accepted, s.elapsed, s.failed);
    std::printf(
        "%s, delivered while submitting: %lld pending when it ended, all delivered %.1f s later\n",
        tag.c_str(), static_cast<long long>(left), drain);
    std::vector<pid_t> pids;
    for (const auto& n : *nodes) pids.push_back(n.pid);
    gateways().stop(pids);
  }
  Phase phase(o, pg, root, count == 1 ? "a_deliver" : "b_deliver");
  const int backlog = phase.make_backlog(o.backlog, next_doc);
  if (backlog < 0) return std::nullopt;
  const auto t0 = Steady::now();
  auto nodes = phase.start_nodes(count);
  if (!nodes) return std::nullopt;
  const double up = seconds_since(t0);
  const double elapsed = phase.drained_since(t0);
  if (elapsed < 0) return std::nullopt;
  rates.delivery = backlog / elapsed;
  size_t files = 0;
  std::string split;
  std::set<std::string> distinct;
  for (const auto& n : *nodes) {
    const auto ids = delivered_ids(n.out());
    files += ids.size();
    distinct.insert(ids.begin(), ids.end());
    split += (split.empty() ? "" : " + ") + std::to_string(ids.size());
  }
  std::printf(
      "%s, delivery docs/s of a backlog of %d: %.1f (%.1f s from the launch, every node up after "
      "%.1f s; files %s = %zu, %zu distinct)\n",
      tag.c_str(), backlog, rates.delivery, elapsed, up, split.c_str(), files, distinct.size());
  std::vector<pid_t> pids;
  for (const auto& n : *nodes) pids.push_back(n.pid);
  gateways().stop(pids);
  std::fflush(stdout);
  return rates;
}

// Phase (c).
bool failover(const Options& o, test::PostgresServer& pg, const fs::path& root,
              std::atomic<int>& next_doc) {
  Phase phase(o, pg, root, "c_failover");
  const int backlog = phase.make_backlog(std::max(100, o.backlog / 4), next_doc);
  if (backlog < 0) return false;
  auto nodes = phase.start_nodes(2);
  if (!nodes) return false;
  Node &one = (*nodes)[0], &two = (*nodes)[1];
  const auto t0 = Steady::now();
  while (delivered_ids(one.out()).empty() && seconds_since(t0) < 30) pause_ms(5);
  gateways().kill9(one.pid);
  const auto killed = Steady::now();
  const double killed_at =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto [held, lease_end] = phase.db().leases_of(Phase::node_id(0));
  const std::int64_t left = phase.db().pending();
  const double elapsed = phase.drained_since(killed);
  if (elapsed < 0) return false;
  const auto by_one = delivered_ids(one.out()), by_two = delivered_ids(two.out());
  size_t both = 0;
  for (const auto& id : by_one) both += by_two.count(id);
  std::set<std::string> all(by_one.begin(), by_one.end());
  all.insert(by_two.begin(), by_two.end());
  std::printf("(c) failover, backlog: %d documents due, two nodes\n", backlog);
  std::printf(
      "(c) failover, at the kill -9 of node 1: %zu delivered by it, %lld pending, %lld leased by "
      "it\n",
      by_one.size(), static_cast<long long>(left), static_cast<long long>(held));
  std::printf("(c) failover, node 1's leases ran out %.1f s after the kill (delivery-lease %d s)\n",
              held > 0 ? static_cast<double>(lease_end) - killed_at : 0.0, kLeaseSeconds);
  std::printf("(c) failover time, kill -9 to everything delivered by node 2: %.1f s\n", elapsed);
  std::printf(
      "(c) failover, documents delivered %zu of %d; by node 2 after node 1 (not recorded before "
      "the kill): %zu; recorded as delivered twice: %lld\n",
      all.size(), backlog, both, static_cast<long long>(phase.db().recorded_twice()));
  gateways().stop({two.pid});
  return true;
}

int run(const Options& o) {
  const fs::path root = fs::temp_directory_path() / ("edocgw-shared-" + random_uuid());
  gateways().set_dir(root);
  test::PostgresServer pg;
  std::printf("PostgreSQL 15 on 127.0.0.1:%d (fsync on), delivery-lease %d s\n", pg.port(),
              kLeaseSeconds);
  std::printf("package bytes: %zu\n", package(0).size());
  std::printf("submission seconds per phase: %.1f\n", o.seconds);
  std::fflush(stdout);
  std::atomic<int> next_doc{0};
  const auto one = measure(o, pg, root, 1, next_doc);
  if (!one) return 2;
  const auto two = measure(o, pg, root, 2, next_doc);
  if (!two) return 2;
  std::printf("two/one, durable submission: %.2f\n", two->submission / one->submission);
  std::printf("two/one, delivery: %.2f\n", two->delivery / one->delivery);
  std::fflush(stdout);
  return failover(o, pg, root, next_doc) ? 0 : 2;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--backlog" && i + 1 < argc) {
      o.backlog = std::atoi(argv[++i]);
      if (o.backlog < 100) return std::nullopt;
    } else if (arg.starts_with("--")) {
      return std::nullopt;
    } else {
      positional.push_back(arg);
    }
  }
  if (positional.size() < 2 || positional.size() > 3) return std::nullopt;
  o.pki = fs::absolute(positional[0]);
  o.bin = fs::absolute(positional[1]).string();
  if (positional.size() == 3) {
    char* end = nullptr;
    o.seconds = std::strtod(positional[2].c_str(), &end);
    if (end == positional[2].c_str() || *end != '\0' || !(o.seconds > 0)) return std::nullopt;
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) {
    std::cerr << "usage: shared_store_bench PKI_DIR EDOCGW_BINARY [SECONDS] [--backlog N>=100]\n";
    return 2;
  }
  watch_signals("shared_store_bench");  // before any other thread starts
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  int status = 2;
  try {
    status = run(*options);
  } catch (const std::exception& e) {
    std::cerr << "shared_store_bench: " << e.what() << "\n";
  }
  std::fflush(stdout);
  gateways().stop_all();
  return status;
}
