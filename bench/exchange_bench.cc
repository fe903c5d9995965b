// bench/exchange_bench.cc: the hub's exchange API, the protocol before
// issue 8 against the VDXP protocol after it, in one run.
//
//   build/bench/exchange_bench PKI_DIR NEW_BIN OLD_BIN [SECONDS] [DOCS]
//
// For each binary in the order old, new, old, new (ABAB, so the spread
// between two runs of the same binary is visible next to the difference
// between binaries), starts a hub (`edocgw serve` with an <exchange> on
// loopback port 0, Hướng Hóa and Đakrông as its clients, their secrets from
// the PKI's *.secret files), sends it DOCS (default 100) signed ~10 KB
// packages from Hướng Hóa to Đakrông (sendEdoc from 8 threads: the hub's
// accept rate), then, as Đakrông, from 8 threads for SECONDS (default 5)
// each: getReceivedEdocList, then getEdoc of the listed docIds, without
// updateStatus so the list stays full. Per call: requests/s, p50/p99
// latency, failures. Then the median per call per binary, the spread of each
// binary's runs, and the ratio new/old.
//
// The same libcurl code drives both; only the request headers differ, each
// hub getting its own protocol:
//   NEW (../shared/VDXP.md): XroadVnpt-* headers signed by
//       adapters::vdxp::RequestSigner; sendEdoc body = package + CRLF with
//       hash-file (unpadded), from, servicetype, messagetype; list with an
//       empty body; getEdoc with docId and body `{}`.
//   OLD (commit 14de798): plain systemid/timestamp/signature headers and
//       plain parameter headers, signed by old_signature() below (the retired
//       scheme, kept here only for this comparison); sendEdoc also names `to`;
//       getEdoc with docid and an empty body, as the old vdxp adapter sent.
// Every request omits `Expect: 100-continue`, as both adapters do.
//
// DOCS defaults to 100 because the new hub answers getReceivedEdocList 100
// items at a time and the old one answered the whole list: with more, the
// old hub would serialise a longer list than the new one and the comparison
// would be of list lengths, not of protocols.
//
// The numbers are only comparable on an otherwise idle machine: run it
// under the build lock (flock /tmp/edocgw-build.lock ...).
#include <curl/curl.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <regex>
#include <sstream>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "adapters/vdxp/vdxp_auth.h"
#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "edxml/package_builder.h"
#include "util/bytes.h"
#include "util/time.h"

namespace {

using namespace edocgw;
namespace fs = std::filesystem;
using Steady = std::chrono::steady_clock;

constexpr int kThreads = 8;
const std::string kSender = "000.00.12.H50", kReceiver = "000.00.13.H50";

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string trimmed(std::string s) {
  const auto space = [](unsigned char c) { return std::isspace(c) != 0; };
  while (!s.empty() && space(s.back())) s.pop_back();
  size_t i = 0;
  while (i < s.size() && space(s[i])) ++i;
  return s.substr(i);
}

// A gateway process, as bench/load_bench.cc starts it: `serve`, stderr to
// DIR/gateway.log, ports read from the log's "listening" lines.
struct Process {
  pid_t pid = -1;
  int exchange_port = 0;
  void stop() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
      pid = -1;
    }
  }
  ~Process() { stop(); }
};

void start(Process& p, const std::string& bin, const fs::path& dir, const std::string& config) {
  fs::create_directories(dir);
  std::ofstream(dir / "gateway.xml") << config;
  p.pid = fork();
  if (p.pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    FILE* f = std::fopen((dir / "gateway.log").c_str(), "w");
    dup2(fileno(f), 1);  // not our stdout: a pipe to `tee` would outlive us
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
              log, m, std::regex(R"re(127\.0\.0\.1:(\d+)","level":"info","msg":"exchange API)re")))
        p.exchange_port = std::stoi(m[1]);
      if (p.exchange_port == 0) break;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  std::cerr << "gateway in " << dir << " did not start:\n" << slurp(dir / "gateway.log");
  p.stop();
  std::exit(2);
}

std::string hub_config(const fs::path& pki) {
  return "<gateway organ-id=\"000.00.00.H50\" name=\"hub\" data-dir=\"var\">\n<identity cert=\"" +
         (pki / "quang-tri.pem").string() + "\" key=\"" + (pki / "quang-tri.key").string() +
         "\" chain=\"" + (pki / "ca.pem").string() + "\"/>\n<trust anchors=\"" +
         (pki / "root.pem").string() + "\" crl=\"" + (pki / "crls.pem").string() +
         "\"/>\n<exchange listen=\"127.0.0.1:0\"><client system-id=\"huong-hoa\" organ-id=\"" +
         kSender + "\" secret-file=\"" + (pki / "huong-hoa.secret").string() +
         "\"/><client system-id=\"dakrong\" organ-id=\"" + kReceiver + "\" secret-file=\"" +
         (pki / "dakrong.secret").string() + "\"/></exchange></gateway>\n";
}

// ---------------------------------------------------------------------------
// The two protocols: the header lines of one call.

struct Client {
  std::string system_id, secret;
};

enum class Call { send, list, get };

// RETIRED SCHEME, kept only for this comparison: the exchange authentication
// before issue 8 (commit 14de798, adapters/vdxp/vdxp_auth.cc). signature =
// lower-hex HMAC-SHA256(secret, "systemid\ntimestamp\nPOST\npath\n" + each
// signed parameter present as "name:value\n" in the order of the old
// kSignedParameters + hex SHA-256 of the body). The hub allowed 300 s of
// clock skew, so the timestamp is the current Unix second.
std::string old_signature(const Client& client, const std::string& timestamp,
                          const std::string& path,
                          const std::map<std::string, std::string>& parameters,
                          const std::string& body) {
  static constexpr const char* kSignedParameters[] = {"from",        "to",    "servicetype",
                                                      "messagetype", "docid", "status"};
  std::string message = client.system_id + "\n" + timestamp + "\nPOST\n" + path + "\n";
  for (const char* name : kSignedParameters) {
    if (auto it = parameters.find(name); it != parameters.end())
      message += std::string(name) + ":" + it->second + "\n";
  }
  message += sha256_hex(body);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), client.secret.data(), static_cast<int>(client.secret.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &len);
  return to_hex(std::string_view(reinterpret_cast<const char*>(mac), len));
}

struct Request {
  std::string path, body;
  std::vector<std::string> headers;  // "Name: value"
};

// `arg` is the package (send) or the docId (get).
Request old_request(const Client& client, Call call, const std::string& arg) {
  Request r;
  std::map<std::string, std::string> parameters;
  if (call == Call::send) {
    r.path = "/sendEdoc";
    r.body = arg;
    parameters = {{"from", kSender},
                  {"to", "[\"" + kReceiver + "\"]"},
                  {"servicetype", "eDoc"},
                  {"messagetype", "edoc"}};
  } else if (call == Call::list) {
    r.path = "/getReceivedEdocList";
    parameters = {{"servicetype", "eDoc"}, {"messagetype", "edoc"}};
  } else {
    r.path = "/getEdoc";
    parameters = {{"docid", arg}};
  }
  const std::string timestamp = std::to_string(now_seconds().time_since_epoch().count());
  r.headers = {"systemid: " + client.system_id, "timestamp: " + timestamp,
               "signature: " + old_signature(client, timestamp, r.path, parameters, r.body)};
  for (const auto& [k, v] : parameters) r.headers.push_back(k + ": " + v);
  r.headers.push_back("Content-Type: application/xml");
  return r;
}

Request new_request(const adapters::vdxp::RequestSigner& signer, Call call,
                    const std::string& arg) {
  Request r;
  adapters::vdxp::Parameters parameters;
  std::string content_type = "application/json";
  if (call == Call::send) {
    r.path = "/sendEdoc";
    r.body = arg + "\r\n";  // as the SDK: the file, then CRLF; hash-file covers the file
    parameters = {{"from", kSender},
                  {"servicetype", "eDoc"},
                  {"messagetype", "edoc"},
                  {"hash-file", adapters::vdxp::sdk_hash_file(arg)}};
    content_type = "application/octet-stream";
  } else if (call == Call::list) {
    r.path = "/getReceivedEdocList";
    parameters = {{"servicetype", "eDoc"}, {"messagetype", "edoc"}};
  } else {
    r.path = "/getEdoc";
    r.body = "{}";
    parameters = {{"docId", arg}};
  }
  for (const auto& [name, value] : signer.headers(parameters, content_type))
    r.headers.push_back(name + ": " + value);
  return r;
}

// ---------------------------------------------------------------------------
// One libcurl client for both.

size_t collect(char* data, size_t size, size_t n, void* body) {
  static_cast<std::string*>(body)->append(data, size * n);
  return size * n;
}

// POSTs on `c` (kept alive between calls); true when the hub answered 200
// with ErrorCode "0" (both hubs write it so, nlohmann's compact dump).
bool perform(CURL* c, const std::string& base, const Request& r, std::string& answer) {
  answer.clear();
  curl_slist* h = nullptr;
  for (const auto& line : r.headers) h = curl_slist_append(h, line.c_str());
  h = curl_slist_append(h, "Expect:");
  const std::string url = base + r.path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(r.body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  long status = 0;
  if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(h);
  return status == 200 && answer.find("\"ErrorCode\":\"0\"") != std::string::npos;
}

struct Rate {
  int ok = 0, failed = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0;
  std::string first_failure;
  double per_second() const { return seconds > 0 ? ok / seconds : 0; }
};

// kThreads threads, each with its own kept-alive connection, call
// `request(thread, i)` until `seconds` have passed (seconds <= 0: exactly
// `count` calls in all).
Rate hammer(const std::string& base, double seconds, int count,
            const std::function<Request(int, int)>& request) {
  std::atomic<int> ok{0}, failed{0}, next{0};
  std::mutex mutex;
  std::vector<double> latencies;
  std::string first_failure;
  const auto t0 = Steady::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      CURL* c = curl_easy_init();
      std::string answer;
      std::vector<double> mine;
      for (int i = 0;; ++i) {
        int n = i;
        if (seconds > 0) {
          if (std::chrono::duration<double>(Steady::now() - t0).count() >= seconds) break;
        } else if ((n = next++) >= count) {
          break;
        }
        const Request r = request(t, n);
        const auto s = Steady::now();
        const bool good = perform(c, base, r, answer);
        mine.push_back(std::chrono::duration<double>(Steady::now() - s).count());
        (good ? ok : failed)++;
        if (!good) {
          std::lock_guard lock(mutex);
          if (first_failure.empty()) first_failure = r.path + ": " + answer.substr(0, 300);
        }
      }
      curl_easy_cleanup(c);
      std::lock_guard lock(mutex);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  Rate rate;
  rate.seconds = std::chrono::duration<double>(Steady::now() - t0).count();
  rate.ok = ok;
  rate.failed = failed;
  rate.first_failure = first_failure;
  std::sort(latencies.begin(), latencies.end());
  auto pct = [&](double p) {
    return latencies.empty() ? 0 : latencies[static_cast<size_t>(p * (latencies.size() - 1))];
  };
  rate.p50_ms = pct(0.50) * 1e3;
  rate.p99_ms = pct(0.99) * 1e3;
  return rate;
}

struct RunResult {
  Rate send, list, get;
  size_t listed = 0;                     // items in one getReceivedEdocList answer
  size_t list_bytes = 0, get_bytes = 0;  // size of one answer
};

RunResult run_one(const fs::path& pki, const std::string& bin, bool is_new,
                  const std::vector<std::string>& packages, double seconds, const Client& sender,
                  const Client& receiver) {
  const fs::path dir = fs::temp_directory_path() / ("edocgw-exchange-" + random_uuid());
  Process hub;
  start(hub, bin, dir, hub_config(pki));
  const std::string base = "http://127.0.0.1:" + std::to_string(hub.exchange_port);
  // Made once per run, like the SDK's service object (its timestamp fixed).
  const adapters::vdxp::RequestSigner sender_signer(sender.system_id, sender.secret);
  const adapters::vdxp::RequestSigner receiver_signer(receiver.system_id, receiver.secret);
  auto as_sender = [&](Call call, const std::string& arg) {
    return is_new ? new_request(sender_signer, call, arg) : old_request(sender, call, arg);
  };
  auto as_receiver = [&](Call call, const std::string& arg) {
    return is_new ? new_request(receiver_signer, call, arg) : old_request(receiver, call, arg);
  };

  RunResult result;
  result.send = hammer(base, 0, static_cast<int>(packages.size()),
                       [&](int, int n) { return as_sender(Call::send, packages[n]); });

  // The docIds, from one list call; then each fetched once, untimed, so the
  // hub's one-time new -> processing write is not in the getEdoc figure.
  std::vector<std::string> ids;
  {
    CURL* c = curl_easy_init();
    std::string answer;
    perform(c, base, as_receiver(Call::list, ""), answer);
    auto j = nlohmann::json::parse(answer, nullptr, false);
    if (j.is_object() && j.contains("data") && j["data"].is_array()) {
      for (const auto& item : j["data"]) ids.push_back(item.value("docId", ""));
    }
    result.listed = ids.size();
    result.list_bytes = answer.size();
    for (const auto& id : ids) perform(c, base, as_receiver(Call::get, id), answer);
    result.get_bytes = answer.size();
    curl_easy_cleanup(c);
  }
  if (ids.empty()) {
    std::cerr << bin << ": Đakrông's list is empty after " << result.send.ok
              << " accepted sendEdoc; first failure: " << result.send.first_failure << "\n"
              << slurp(dir / "gateway.log").substr(0, 3000);
    hub.stop();
    std::exit(2);
  }

  result.list = hammer(base, seconds, 0, [&](int, int) { return as_receiver(Call::list, ""); });
  result.get = hammer(base, seconds, 0, [&](int t, int i) {
    return as_receiver(Call::get, ids[(static_cast<size_t>(t) * 13 + i) % ids.size()]);
  });
  hub.stop();
  std::error_code ec;
  fs::remove_all(dir, ec);
  return result;
}

void print_rate(const char* name, const Rate& r) {
  std::printf("  %-20s %8.1f req/s  p50 %6.2f ms  p99 %6.2f ms  (%d ok, %d failed in %.1f s)\n",
              name, r.per_second(), r.p50_ms, r.p99_ms, r.ok, r.failed, r.seconds);
  if (r.failed) std::printf("    first failure: %s\n", r.first_failure.c_str());
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: exchange_bench PKI_DIR NEW_BIN OLD_BIN [SECONDS] [DOCS]\n";
    return 2;
  }
  // A private copy: the shared sample PKI is remade whenever someone runs
  // the sample_pki test fixture, and a copy remade between signing a
  // package and the hub loading its trust anchors fails verification.
  const fs::path pki = fs::temp_directory_path() / ("edocgw-exchange-pki-" + random_uuid());
  fs::copy(fs::absolute(argv[1]), pki, fs::copy_options::recursive);
  const std::string new_bin = fs::absolute(argv[2]).string();
  const std::string old_bin = fs::absolute(argv[3]).string();
  const double seconds = argc > 4 ? std::stod(argv[4]) : 5;
  const int docs = argc > 5 ? std::stoi(argv[5]) : 100;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);

  const Client sender{"huong-hoa", trimmed(slurp(pki / "huong-hoa.secret"))};
  const Client receiver{"dakrong", trimmed(slurp(pki / "dakrong.secret"))};
  if (sender.secret.empty() || receiver.secret.empty()) {
    std::cerr << "no secrets in " << pki << "\n";
    return 2;
  }
  auto id =
      crypto::load_identity({pki / "huong-hoa.pem", pki / "huong-hoa.key", pki / "ca.pem", ""});
  if (!id) {
    std::cerr << id.error().message << "\n";
    return 2;
  }
  auto signer = crypto::PackageSigner::create(std::move(*id));
  if (!signer) {
    std::cerr << signer.error().message << "\n";
    return 2;
  }
  // The same signed packages for every run.
  std::vector<std::string> packages;
  for (int n = 0; n < docs; ++n) {
    nlohmann::json meta = {
        {"from", {{"organ_id", kSender}, {"organ_name", "UBND huyện Hướng Hóa"}}},
        {"to", {{{"organ_id", kReceiver}, {"organ_name", "UBND huyện Đakrông"}}}},
        {"code", {{"number", std::to_string(n)}, {"notation", "BENCH"}}},
        {"subject", "Đo tải: công văn số " + std::to_string(n)}};
    auto p = edxml::build_package(meta, {{"a.pdf", std::string(5500, 'x'), "", ""}}, now_seconds());
    if (!p) {
      std::cerr << p.error().message << "\n";
      return 2;
    }
    auto s = signer->sign(*p, now_seconds());
    if (!s) {
      std::cerr << s.error().message << "\n";
      return 2;
    }
    packages.push_back(std::move(*s));
  }
  std::printf("%d signed packages of %zu bytes; %d client threads; %.1f s per call\n", docs,
              packages[0].size(), kThreads, seconds);

  struct Series {
    std::vector<double> send, list, get;
  };
  Series old_s, new_s;
  int run = 0;
  for (bool is_new : {false, true, false, true}) {
    const std::string& bin = is_new ? new_bin : old_bin;
    std::printf("run %d %s (%s)\n", ++run, is_new ? "NEW" : "OLD", bin.c_str());
    std::fflush(stdout);
    const RunResult r = run_one(pki, bin, is_new, packages, seconds, sender, receiver);
    std::printf("  one list answer: %zu items, %zu bytes; one getEdoc answer: %zu bytes\n",
                r.listed, r.list_bytes, r.get_bytes);
    print_rate("sendEdoc (preload)", r.send);
    print_rate("getReceivedEdocList", r.list);
    print_rate("getEdoc", r.get);
    std::fflush(stdout);
    Series& s = is_new ? new_s : old_s;
    s.send.push_back(r.send.per_second());
    s.list.push_back(r.list.per_second());
    s.get.push_back(r.get.per_second());
  }

  std::printf("summary (median of each binary's runs, req/s; [min..max] is the spread)\n");
  auto line = [](const char* name, const std::vector<double>& o, const std::vector<double>& n) {
    const double mo = median(o), mn = median(n);
    std::printf("  %-20s OLD %8.1f [%.1f..%.1f]  NEW %8.1f [%.1f..%.1f]  new/old %.2f\n", name, mo,
                *std::min_element(o.begin(), o.end()), *std::max_element(o.begin(), o.end()), mn,
                *std::min_element(n.begin(), n.end()), *std::max_element(n.begin(), n.end()),
                mo > 0 ? mn / mo : 0);
  };
  line("sendEdoc (preload)", old_s.send, new_s.send);
  line("getReceivedEdocList", old_s.list, new_s.list);
  line("getEdoc", old_s.get, new_s.get);
  std::error_code ec;
  fs::remove_all(pki, ec);
  return 0;
}
