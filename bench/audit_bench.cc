// bench/audit_bench.cc: the signature log's speed.
//
//   build/bench/audit_bench PKI_DIR EDOCGW_BIN [RECORDS] [APPEND_SECONDS]
//
// Writes a log of RECORDS (default 1,000,000) realistic verification records
// in the gateway's format, signs a checkpoint over it, then measures in the
// same run: raw SHA-256 over the log's bytes (one pass, this process), and
// `edocgw audit verify --no-packages` on it as a child process (records/s,
// MB/s, and the ratio to the raw SHA-256 rate; target >= 0.30). Then the cost
// of a durable append: 16 threads appending through SignatureLog for
// APPEND_SECONDS (default 5), appends/s and mean latency.
#include <openssl/evp.h>

#include <cstring>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include "audit/signature_log.h"
#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "util/bytes.h"
#include "util/time.h"

using namespace edocgw;
using Steady = std::chrono::steady_clock;

namespace {

double since(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

nlohmann::json sample_event(std::uint64_t i) {
  nlohmann::json checks = nlohmann::json::array();
  for (const char* name :
       {"parse", "structure", "signed_info", "algorithm", "signer_certificate", "digest",
        "signature_value", "validity", "chain", "revocation", "key_usage", "sender_binding"})
    checks.push_back({{"name", name}, {"outcome", "pass"}, {"detail", "ok"}});
  return {
      {"time", "2026-11-28T09:00:00Z"},
      {"event", "verify"},
      {"message", "edoc"},
      {"gateway", "000.00.13.H50"},
      {"document", "7c0e1a52-5f7e-4f0e-9d7e-" + std::to_string(100000000000 + i)},
      {"document_id", "000.00.12.H50,2026/11/28," + std::to_string(i) + "/UBND-VP"},
      {"from", "000.00.12.H50"},
      {"package", "packages/7c0e1a52-5f7e-4f0e-9d7e-" + std::to_string(100000000000 + i) + ".xml"},
      {"package_sha256", sha256_hex(std::to_string(i))},
      {"signer", sha256_hex("signer")},
      {"certificates", {sha256_hex("signer"), sha256_hex("ca")}},
      {"outcome", "valid"},
      {"reason", ""},
      {"checked_at", "2026-11-28T09:00:00Z"},
      {"allow_sha1", false},
      {"revocation",
       {{{"source", "crl"},
         {"certificate", "CN=UBND huyện Hướng Hóa"},
         {"crl_issuer", "CN=CA"},
         {"crl_number", "4096"},
         {"this_update", "2026-11-01T00:00:00Z"},
         {"next_update", "2026-12-01T00:00:00Z"},
         {"revoked", false}}}},
      {"checks", checks},
      {"config_sha256", sha256_hex("config")},
      {"v", 1},
      {"kind", "event"}};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: audit_bench PKI_DIR EDOCGW_BIN [RECORDS] [APPEND_SECONDS]\n";
    return 2;
  }
  const std::filesystem::path pki = argv[1];
  const std::string bin = argv[2];
  const std::uint64_t n = argc > 3 ? std::stoull(argv[3]) : 1000000;
  const double append_seconds = argc > 4 ? std::stod(argv[4]) : 5;

  auto identity =
      crypto::load_identity({pki / "dakrong.pem", pki / "dakrong.key", pki / "ca.pem", ""});
  if (!identity) {
    std::cerr << identity.error().message << "\n";
    return 2;
  }
  auto signer = crypto::PackageSigner::create(std::move(*identity));
  if (!signer) return 2;

  const auto dir = std::filesystem::temp_directory_path() / ("edocgw-audit-bench-" + random_uuid());
  std::filesystem::create_directories(dir / "signature-log");
  {
    // The records as the gateway writes them, without a flush per record.
    auto t = Steady::now();
    std::ofstream out(dir / "signature-log/records", std::ios::binary);
    audit::Hash prev{};
    std::string buffer;
    for (std::uint64_t i = 0; i < n; ++i) {
      const std::string payload = sample_event(i).dump();
      const std::string frame = audit::encode_frame(i, prev, payload);
      std::memcpy(prev.data(), frame.data() + frame.size() - 32, 32);
      buffer += frame;
      if (buffer.size() > (8u << 20)) {
        out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
        buffer.clear();
      }
    }
    out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    out.close();
    std::printf("wrote %llu records in %.1f s\n", static_cast<unsigned long long>(n), since(t));
  }
  {
    std::vector<std::string> notices;
    auto t = Steady::now();
    auto log = audit::SignatureLog::open(dir, "edocgw/000.00.13.H50", notices);
    if (!log) {
      std::cerr << log.error().message << "\n";
      return 2;
    }
    std::printf("gateway start-up replay of the log: %.2f s\n", since(t));
    auto note = (*log)->checkpoint(*signer);
    if (!note) {
      std::cerr << note.error().message << "\n";
      return 2;
    }
  }
  const auto bytes = read_file(dir / "signature-log/records");
  if (!bytes) return 2;
  const double mb = static_cast<double>(bytes->size()) / 1e6;

  // Raw SHA-256 over the same bytes, best of three.
  double raw = 0;
  for (int round = 0; round < 3; ++round) {
    unsigned char digest[32];
    unsigned int len = 0;
    auto t = Steady::now();
    EVP_Digest(bytes->data(), bytes->size(), digest, &len, EVP_sha256(), nullptr);
    raw = std::max(raw, mb / since(t));
  }
  std::printf("log: %llu records, %.1f MB (%.0f bytes per record)\n",
              static_cast<unsigned long long>(n + 2), mb, static_cast<double>(bytes->size()) / n);
  std::printf("raw SHA-256 over the log's bytes: %.0f MB/s (this process)\n", raw);

  double best = 1e9;
  for (int round = 0; round < 2; ++round) {
    auto t = Steady::now();
    const std::string cmd = bin + " audit verify --no-packages --data-dir " + dir.string() +
                            " --trust " + (pki / "root.pem").string() + " > " +
                            (dir / "audit.txt").string() + " 2>&1";
    const int rc = std::system(cmd.c_str());
    best = std::min(best, since(t));
    if (rc != 0) {
      auto out = read_file(dir / "audit.txt");
      std::cerr << "audit verify failed:\n" << (out ? *out : std::string()) << "\n";
      return 1;
    }
  }
  std::printf("edocgw audit verify --no-packages: %.2f s = %.0f records/s = %.0f MB/s\n", best,
              static_cast<double>(n) / best, mb / best);
  std::printf("ratio: audit verify MB/s / raw SHA-256 MB/s = %.2f (target >= 0.30)\n",
              mb / best / raw);

  // Durable appends from 16 threads, as the gateway's workers make them.
  {
    const auto adir = dir / "append";
    std::vector<std::string> notices;
    auto log = audit::SignatureLog::open(adir, "edocgw/bench", notices);
    if (!log) return 2;
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> count{0};
    std::atomic<double> latency_sum{0};
    std::vector<std::thread> threads;
    auto t = Steady::now();
    for (int i = 0; i < 16; ++i) {
      threads.emplace_back([&, i] {
        for (std::uint64_t k = 0; !stop; ++k) {
          auto e = sample_event(k * 16 + static_cast<std::uint64_t>(i));
          e.erase("v");
          e.erase("kind");
          auto s = Steady::now();
          if (!(*log)->append_event(std::move(e), {})) std::abort();
          const double l = since(s);
          double cur = latency_sum.load();
          while (!latency_sum.compare_exchange_weak(cur, cur + l)) {
          }
          ++count;
        }
      });
    }
    std::this_thread::sleep_for(std::chrono::duration<double>(append_seconds));
    stop = true;
    for (auto& th : threads) th.join();
    const double secs = since(t);
    std::printf("durable appends, 16 threads: %.0f appends/s, mean latency %.2f ms\n",
                static_cast<double>(count) / secs, latency_sum / static_cast<double>(count) * 1000);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
