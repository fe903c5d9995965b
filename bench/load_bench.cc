// bench/load_bench.cc: end-to-end load on real gateways (issue 10's numbers).
//
//   build/bench/load_bench PKI_DIR EDOCGW_BINARY [SECONDS] [--accept-only]
//                          [--connections 16,64]
//
// Measures raw RSA-2048 sign/s in this process with 2 threads, then starts
// Hướng Hóa (A) as a process on loopback (its data in a temporary folder)
// and POSTs 10 KB packages to its local API for SECONDS (default 10) at each
// number of connections in turn: accepted documents per second (202,
// durably stored), p50/p99 latency and the ratio to the 2-thread sign rate;
// then A's peak RSS (VmHWM) over those phases. Then a hub and Đakrông (B)
// start and the A -> hub -> B delivery rate is measured: documents per
// second from their start until B's inbox holds every accepted document
// (skipped with --accept-only, for A/B runs of two binaries).
//
// One "name: value" per line. Two lines keep the shape
// bench/delivery_compare.sh reads: "accepted (202, durable): ... = R docs/s"
// (once, for the 16-connection phase) and "A -> hub -> B: ...: R docs/s
// delivered".
#include <curl/curl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <optional>
#include <regex>
#include <sstream>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/gateway_processes.h"
#include "crypto/identity.h"
#include "edxml/package_builder.h"
#include "util/bytes.h"
#include "util/time.h"

namespace {

using namespace edocgw;
using namespace edocgw::bench;

constexpr int kSignThreads = 2;
constexpr int kMaxConnections = 1024;
constexpr double kSubmitRatioTarget = 0.50;  // durable docs/s / 2-thread raw sign/s
constexpr double kDeliveryTarget = 250;      // docs/s, A -> hub -> B

struct Process {
  pid_t pid = -1;
  int api_port = 0, exchange_port = 0;
};

// Starts a gateway and waits for "gateway started" in its log (10 s at
// most); false, with its log on stderr, if it exits or does not start.
bool start(Process& p, const std::string& bin, const fs::path& dir, const std::string& config) {
  fs::create_directories(dir);
  std::ofstream(dir / "gateway.xml") << config;
  p.pid = gateways().spawn(bin, dir / "gateway.xml", dir / "gateway.log");
  if (p.pid < 0) {
    std::perror("load_bench: fork");
    return false;
  }
  Listening ports;
  if (!wait_started(p.pid, dir / "gateway.log", std::chrono::seconds(10), ports)) return false;
  p.api_port = ports.api_port;
  p.exchange_port = ports.exchange_port;
  return true;
}

std::string district(const fs::path& pki, const std::string& organ, const std::string& stem,
                     int hub_port) {
  return "<gateway organ-id=\"" + organ +
         "\" name=\"bench\" data-dir=\"var\">\n"
         "<identity cert=\"" +
         (pki / (stem + ".pem")).string() + "\" key=\"" + (pki / (stem + ".key")).string() +
         "\" chain=\"" + (pki / "ca.pem").string() +
         "\"/>\n"
         "<trust anchors=\"" +
         (pki / "root.pem").string() + "\" crl=\"" + (pki / "crls.pem").string() +
         "\"/>\n"
         "<api listen=\"127.0.0.1:0\"><client name=\"bench\" token-sha256=\"" +
         sha256_hex(kToken) +
         "\"/></api>\n"
         "<adapters><adapter name=\"province\" type=\"vdxp\" url=\"http://127.0.0.1:" +
         std::to_string(hub_port) + "\" system-id=\"" + stem + "\" secret-file=\"" +
         (pki / (stem + ".secret")).string() +
         "\" poll=\"100ms\"/>\n"
         "<adapter name=\"office\" type=\"directory\" path=\"var/office\"/></adapters>\n"
         "<routes><route to=\"*\" via=\"province\"/><inbound via=\"office\"/></routes></gateway>\n";
}

std::string hub(const fs::path& pki, int hub_port) {
  return "<gateway organ-id=\"000.00.00.H50\" name=\"hub\" data-dir=\"var\">\n<identity cert=\"" +
         (pki / "quang-tri.pem").string() + "\" key=\"" + (pki / "quang-tri.key").string() +
         "\" chain=\"" + (pki / "ca.pem").string() + "\"/>\n<trust anchors=\"" +
         (pki / "root.pem").string() + "\" crl=\"" + (pki / "crls.pem").string() +
         "\"/>\n<exchange listen=\"127.0.0.1:" + std::to_string(hub_port) +
         "\"><client system-id=\"huong-hoa\" organ-id=\"000.00.12.H50\" secret-file=\"" +
         (pki / "huong-hoa.secret").string() +
         "\"/><client system-id=\"dakrong\" organ-id=\"000.00.13.H50\" secret-file=\"" +
         (pki / "dakrong.secret").string() + "\"/></exchange></gateway>\n";
}

// Counts B's inbox as it grows: asks only for the rows after the newest one
// seen (`since`), so that watching does not load B with a listing of every
// row (with its report) ten times a second.
class InboxWatch {
 public:
  explicit InboxWatch(int port) : port_(port) {}
  size_t count() {
    CURL* c = curl_easy_init();
    std::string body;
    curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + kToken).c_str());
    const std::string url = "http://127.0.0.1:" + std::to_string(port_) + "/v1/inbox" +
                            (newest_.empty() ? "" : "?since=" + newest_);
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_perform(c);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (j.is_array() && !j.empty()) {  // newest first
      count_ += j.size();
      newest_ = j[0].value("id", newest_);
    }
    return count_;
  }

 private:
  int port_;
  std::string newest_;
  size_t count_ = 0;
};

// Signatures per second over `seconds` from kSignThreads threads signing at
// once with the same key (a fresh EVP_MD_CTX each, as the gateway does).
double raw_rsa_sign_rate(EVP_PKEY* key, double seconds) {
  std::atomic<long> total{0};
  const auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kSignThreads; ++t) {
    threads.emplace_back([&] {
      const std::string msg(64, 'x');
      unsigned char sig[1024];
      long n = 0;
      while (seconds_since(t0) < seconds) {
        EVP_MD_CTX* ctx = EVP_MD_CTX_new();
        size_t len = sizeof sig;
        EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
        EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(msg.data()),
                       msg.size());
        EVP_MD_CTX_free(ctx);
        ++n;
      }
      total += n;
    });
  }
  for (auto& t : threads) t.join();
  return static_cast<double>(total.load()) / seconds_since(t0);
}

struct Submission {
  int connections = 0;
  int accepted = 0, failed = 0;
  double elapsed = 0;       // seconds
  double p50 = 0, p99 = 0;  // seconds
};

// POSTs packages to `url` from `connections` connections for `seconds`;
// each package has the next number of `next_doc`, so each is a distinct
// document that B must receive.
Submission submit(const std::string& url, int connections, double seconds,
                  std::atomic<int>& next_doc) {
  std::atomic<int> accepted{0}, failed{0};
  std::mutex mutex;
  std::vector<double> latencies;
  const auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < connections; ++t) {
    threads.emplace_back([&] {
      CURL* c = curl_easy_init();
      std::string answer;
      std::vector<double> mine;
      while (seconds_since(t0) < seconds) {
        const std::string body = package(next_doc++);
        const auto s = Steady::now();
        const long status = post(c, url, body, answer);
        mine.push_back(seconds_since(s));
        (status == 202 ? accepted : failed)++;
      }
      curl_easy_cleanup(c);
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  Submission r;
  r.connections = connections;
  r.elapsed = seconds_since(t0);
  r.accepted = accepted.load();
  r.failed = failed.load();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0 : latencies[static_cast<size_t>(p * (latencies.size() - 1))];
  };
  r.p50 = pct(0.50);
  r.p99 = pct(0.99);
  return r;
}

void print(const Submission& r, double raw_sign_rate, bool legacy_line) {
  const int c = r.connections;
  const double rate = r.accepted / r.elapsed;
  std::printf("durable submission (202) docs/s, %d connections: %.1f (%d in %.1f s, failed %d)\n",
              c, rate, r.accepted, r.elapsed, r.failed);
  std::printf("durable submission p50 ms, %d connections: %.1f\n", c, r.p50 * 1e3);
  std::printf("durable submission p99 ms, %d connections: %.1f\n", c, r.p99 * 1e3);
  std::printf(
      "durable submission docs/s / raw sign/s (%d threads), %d connections: %.2f (target >= "
      "%.2f)\n",
      kSignThreads, c, rate / raw_sign_rate, kSubmitRatioTarget);
  // The line bench/delivery_compare.sh reads ("accepted (A, 16 connections)").
  if (legacy_line)
    std::printf(
        "accepted (202, durable): %d in %.1f s = %.1f docs/s at concurrency %d; failed %d\n",
        r.accepted, r.elapsed, rate, c, r.failed);
}

// A field of /proc/PID/status in MB (its kB / 1024), or -1.
double proc_status_mb(pid_t pid, std::string_view field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.size() > field.size() && line.compare(0, field.size(), field) == 0 &&
        line[field.size()] == ':')
      return std::strtod(line.c_str() + field.size() + 1, nullptr) / 1024;
  }
  return -1;
}

void print_memory(const char* name, pid_t pid, std::string_view field) {
  const double mb = proc_status_mb(pid, field);
  if (mb < 0)
    std::printf("%s: unavailable\n", name);
  else
    std::printf("%s: %.1f\n", name, mb);
}

struct Options {
  fs::path pki;
  std::string bin;
  double seconds = 10;  // per number of connections
  bool accept_only = false;
  std::vector<int> connections{16, 64};
};

std::optional<std::vector<int>> parse_connections(std::string_view list) {
  std::vector<int> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const std::string_view item = list.substr(0, comma);
    int n = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), n);
    if (ec != std::errc() || end != item.data() + item.size() || n < 1 || n > kMaxConnections)
      return std::nullopt;
    out.push_back(n);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--accept-only") {
      o.accept_only = true;
    } else if (arg == "--connections" || arg.starts_with("--connections=")) {
      std::string list;
      if (arg == "--connections") {
        if (++i == argc) return std::nullopt;
        list = argv[i];
      } else {
        list = arg.substr(std::string_view("--connections=").size());
      }
      auto c = parse_connections(list);
      if (!c) return std::nullopt;
      o.connections = *c;
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

// Every accepted document, A -> hub -> B: starts the hub and B, waits until
// B's inbox holds `expected` documents (300 s at most).
bool measure_delivery(const Options& o, const fs::path& dir, int hub_port, size_t expected) {
  Process hub_process, b;
  if (!start(hub_process, o.bin, dir / "hub", hub(o.pki, hub_port))) return false;
  if (!start(b, o.bin, dir / "b", district(o.pki, "000.00.13.H50", "dakrong", hub_port)))
    return false;
  const auto t0 = Steady::now();
  InboxWatch inbox(b.api_port);
  while (inbox.count() < expected && seconds_since(t0) < 300)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const double elapsed = seconds_since(t0);
  const size_t arrived = inbox.count();
  std::printf(
      "A -> hub -> B: %zu of %zu documents verified in B's inbox %.1f s after the hub and B "
      "started (target >= %.0f docs/s): %.1f docs/s delivered\n",
      arrived, expected, elapsed, kDeliveryTarget, arrived / elapsed);
  return true;
}

int run(const Options& o) {
  auto id = crypto::load_identity({o.pki / "huong-hoa.pem", o.pki / "huong-hoa.key", "", ""});
  if (!id) {
    std::cerr << "load_bench: cannot load " << (o.pki / "huong-hoa.key") << "\n";
    return 2;
  }
  // Before any gateway starts: the machine is idle but for these threads.
  const double raw = raw_rsa_sign_rate(id->key.get(), 2);
  std::printf("raw RSA-2048 sign/s, %d threads: %.1f (EVP, this process)\n", kSignThreads, raw);

  const fs::path dir = fs::temp_directory_path() / ("edocgw-load-" + random_uuid());
  gateways().set_dir(dir);
  // Below Linux's ephemeral range (32768-60999): a client socket of this
  // run cannot hold the hub's port before the hub starts.
  const int hub_port = 20000 + static_cast<int>(getpid() % 12000);
  Process a;
  if (!start(a, o.bin, dir / "a", district(o.pki, "000.00.12.H50", "huong-hoa", hub_port)))
    return 2;
  const std::string url = "http://127.0.0.1:" + std::to_string(a.api_port) + "/v1/documents";
  std::printf("package bytes: %zu\n", package(0).size());
  std::printf("submission seconds per phase: %.1f\n", o.seconds);

  std::atomic<int> next_doc{0};
  size_t accepted = 0;
  bool legacy_printed = false;
  for (const int c : o.connections) {
    const Submission r = submit(url, c, o.seconds, next_doc);
    const bool legacy = c == 16 && !legacy_printed;
    legacy_printed = legacy_printed || legacy;
    print(r, raw, legacy);
    accepted += static_cast<size_t>(r.accepted);
  }
  // VmHWM: the most A's resident set held since it started, so over every
  // phase above (its start-up holds far less).
  print_memory("A peak RSS during submission (VmHWM), MB", a.pid, "VmHWM");
  print_memory("A RSS after submission (VmRSS), MB", a.pid, "VmRSS");
  std::fflush(stdout);
  if (o.accept_only) return 0;

  if (!measure_delivery(o, dir, hub_port, accepted)) return 2;
  print_memory("A RSS at the end (VmRSS), MB", a.pid, "VmRSS");
  print_memory("A peak RSS at the end (VmHWM), MB", a.pid, "VmHWM");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) {
    std::cerr << "usage: load_bench PKI_DIR EDOCGW_BINARY [SECONDS] [--accept-only] "
                 "[--connections 16,64]\n";
    return 2;
  }
  watch_signals("load_bench");  // before any other thread starts
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  int status = 2;
  try {
    status = run(*options);
  } catch (const std::exception& e) {
    std::cerr << "load_bench: " << e.what() << "\n";
  }
  std::fflush(stdout);
  gateways().stop_all();
  return status;
}
