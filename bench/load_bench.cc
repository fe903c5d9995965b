// bench/load_bench.cc: end-to-end load on real gateways.
//
//   build/bench/load_bench PKI_DIR EDOCGW_BINARY [SECONDS] [--accept-only]
//
// Starts a hub, Hướng Hóa (A) and Đakrông (B) as processes on loopback
// (their data in a temporary folder), measures raw RSA-2048 sign/s in this
// process, then POSTs 10 KB packages to A's local API from 16 connections
// for SECONDS (default 10): accepted documents per second (202, durably
// stored), p50/p99 latency; then the A -> B delivery rate: documents per
// second from the first submission until B's inbox holds them all
// (skipped with --accept-only, for A/B runs of two binaries).
#include <curl/curl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "crypto/identity.h"
#include "edxml/package_builder.h"
#include "util/bytes.h"
#include "util/time.h"

namespace {

using namespace edocgw;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

constexpr int kConcurrency = 16;
const std::string kToken = "bench-token";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Process {
  pid_t pid = -1;
  int api_port = 0, exchange_port = 0;
  ~Process() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
};

void start(Process& p, const std::string& bin, const fs::path& dir, const std::string& config) {
  fs::create_directories(dir);
  std::ofstream(dir / "gateway.xml") << config;
  p.pid = fork();
  if (p.pid == 0) {
    FILE* f = std::fopen((dir / "gateway.log").c_str(), "w");
    dup2(fileno(f), 2);
    execl(bin.c_str(), bin.c_str(), "serve", "--config", (dir / "gateway.xml").c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  for (int i = 0; i < 400; ++i) {
    const std::string log = slurp(dir / "gateway.log");
    if (log.find("gateway started") != std::string::npos) {
      std::smatch m;
      if (std::regex_search(
              log, m, std::regex(R"re(127\.0\.0\.1:(\d+)","level":"info","msg":"local API)re")))
        p.api_port = std::stoi(m[1]);
      if (std::regex_search(
              log, m, std::regex(R"re(127\.0\.0\.1:(\d+)","level":"info","msg":"exchange API)re")))
        p.exchange_port = std::stoi(m[1]);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::cerr << "gateway in " << dir << " did not start:\n" << slurp(dir / "gateway.log");
  std::exit(2);
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

size_t collect(char* data, size_t size, size_t n, void* body) {
  static_cast<std::string*>(body)->append(data, size * n);
  return size * n;
}

long post(CURL* c, const std::string& url, const std::string& body, std::string& answer) {
  answer.clear();
  curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + kToken).c_str());
  h = curl_slist_append(h, "Content-Type: application/xml");
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  return status;
}

size_t inbox_size(int port) {
  CURL* c = curl_easy_init();
  std::string body;
  curl_slist* h = curl_slist_append(nullptr, ("Authorization: Bearer " + kToken).c_str());
  curl_easy_setopt(c, CURLOPT_URL,
                   ("http://127.0.0.1:" + std::to_string(port) + "/v1/inbox").c_str());
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
  curl_easy_perform(c);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_array() ? j.size() : 0;
}

std::string package(int n) {
  nlohmann::json meta = {
      {"from", {{"organ_id", "000.00.12.H50"}, {"organ_name", "UBND huyện Hướng Hóa"}}},
      {"to", {{{"organ_id", "000.00.13.H50"}, {"organ_name", "UBND huyện Đakrông"}}}},
      {"code", {{"number", std::to_string(n)}, {"notation", "BENCH"}}},
      {"subject", "Đo tải: công văn số " + std::to_string(n)}};
  auto p = edxml::build_package(meta, {{"a.pdf", std::string(5500, 'x'), "", ""}}, now_seconds());
  return *p;
}

double raw_rsa_sign_rate(EVP_PKEY* key, double seconds) {
  const std::string msg(64, 'x');
  unsigned char sig[1024];
  int n = 0;
  const auto start = Steady::now();
  while (std::chrono::duration<double>(Steady::now() - start).count() < seconds) {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = sizeof sig;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    EVP_MD_CTX_free(ctx);
    ++n;
  }
  return n / std::chrono::duration<double>(Steady::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: load_bench PKI_DIR EDOCGW_BINARY [SECONDS]\n";
    return 2;
  }
  const fs::path pki = fs::absolute(argv[1]);
  const std::string bin = fs::absolute(argv[2]).string();
  const double seconds = argc > 3 ? std::stod(argv[3]) : 10;
  const bool accept_only = argc > 4 && std::string(argv[4]) == "--accept-only";
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);

  auto id = crypto::load_identity({pki / "huong-hoa.pem", pki / "huong-hoa.key", "", ""});
  if (!id) return 2;
  const double raw = raw_rsa_sign_rate(id->key.get(), 2);
  std::printf("raw EVP RSA-2048 sign: %.1f/s (this process, one thread)\n", raw);

  const fs::path dir = fs::temp_directory_path() / ("edocgw-load-" + random_uuid());
  Process hub, a, b;
  const int hub_port = [] { return 20000 + static_cast<int>(getpid() % 20000); }();
  start(a, bin, dir / "a", district(pki, "000.00.12.H50", "huong-hoa", hub_port));
  const std::string url = "http://127.0.0.1:" + std::to_string(a.api_port) + "/v1/documents";

  std::printf("package size: %zu bytes\n", package(0).size());

  std::atomic<int> accepted{0}, failed{0};
  std::mutex mutex;
  std::vector<double> latencies;
  const auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kConcurrency; ++t) {
    threads.emplace_back([&, t] {
      CURL* c = curl_easy_init();
      std::string answer;
      std::vector<double> mine;
      for (int i = t; std::chrono::duration<double>(Steady::now() - t0).count() < seconds;
           i += kConcurrency) {
        const std::string body = package(i);  // distinct DocumentIds: each one is delivered
        const auto s = Steady::now();
        const long status = post(c, url, body, answer);
        mine.push_back(std::chrono::duration<double>(Steady::now() - s).count());
        (status == 202 ? accepted : failed)++;
      }
      curl_easy_cleanup(c);
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Steady::now() - t0).count();
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0 : latencies[static_cast<size_t>(p * (latencies.size() - 1))];
  };
  const double rate = accepted / elapsed;
  std::printf("accepted (202, durable): %d in %.1f s = %.1f docs/s at concurrency %d; failed %d\n",
              accepted.load(), elapsed, rate, kConcurrency, failed.load());
  std::printf("latency p50 %.1f ms, p99 %.1f ms\n", pct(0.50) * 1e3, pct(0.99) * 1e3);
  std::printf("ratio: accepted docs/s / raw RSA-2048 sign/s = %.2f (target >= 0.50)\n", rate / raw);

  if (accept_only) {
    kill(a.pid, SIGTERM);
    waitpid(a.pid, nullptr, 0);
    a.pid = -1;
    fs::remove_all(dir);
    return 0;
  }
  start(hub, bin, dir / "hub",
        "<gateway organ-id=\"000.00.00.H50\" name=\"hub\" data-dir=\"var\">\n<identity cert=\"" +
            (pki / "quang-tri.pem").string() + "\" key=\"" + (pki / "quang-tri.key").string() +
            "\" chain=\"" + (pki / "ca.pem").string() + "\"/>\n<trust anchors=\"" +
            (pki / "root.pem").string() + "\" crl=\"" + (pki / "crls.pem").string() +
            "\"/>\n<exchange listen=\"127.0.0.1:" + std::to_string(hub_port) +
            "\"><client system-id=\"huong-hoa\" organ-id=\"000.00.12.H50\" secret-file=\"" +
            (pki / "huong-hoa.secret").string() +
            "\"/><client system-id=\"dakrong\" organ-id=\"000.00.13.H50\" secret-file=\"" +
            (pki / "dakrong.secret").string() + "\"/></exchange></gateway>\n");
  start(b, bin, dir / "b", district(pki, "000.00.13.H50", "dakrong", hub_port));
  // Every accepted document, A -> hub -> B.
  const auto d0 = Steady::now();
  const auto t_delivery = d0;
  const size_t expected = static_cast<size_t>(accepted.load());
  while (inbox_size(b.api_port) < expected &&
         std::chrono::duration<double>(Steady::now() - d0).count() < 300) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const double delivery_elapsed = std::chrono::duration<double>(Steady::now() - t_delivery).count();
  const size_t arrived = inbox_size(b.api_port);
  std::printf(
      "A -> hub -> B: %zu of %zu documents verified in B's inbox %.1f s after the hub and B "
      "started: "
      "%.1f docs/s delivered\n",
      arrived, expected, delivery_elapsed, arrived / delivery_elapsed);
  std::error_code ec;
  fs::remove_all(dir, ec);
  return 0;
}
