// bench/sign_verify_bench.cc: signing and verification speed, measured
// against raw EVP signing with the same keys in the same process.
//
//   build/bench/sign_verify_bench PKI_DIR [SECONDS_PER_CASE]
//
// PKI_DIR is made by certs-sample/make-sample-pki.sh. Prints raw RSA-2048
// and ECDSA P-256 sign/verify rates, then package sign and verify rates for
// 10 KB, 1 MB and 40 MB packages with MB/s, and the peak RSS of a child
// process that verifies the 40 MB package from a file (as `edocgw verify` does).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>

#include "crypto/identity.h"
#include "crypto/ocsp.h"
#include "crypto/package_signer.h"
#include "crypto/package_verifier.h"
#include "crypto/revocation_cache.h"
#include "crypto/trust_store.h"
#include "edxml/package_builder.h"
#include "util/bytes.h"
#include "util/time.h"

namespace {

using namespace edocgw;
using Seconds = std::chrono::duration<double>;

double g_seconds = 1.0;

// Runs `op` until `g_seconds` have passed (at least `min_runs` times); ops/s.
double rate(const std::function<void()>& op, int min_runs = 3) {
  op();  // warm-up
  const auto start = std::chrono::steady_clock::now();
  int runs = 0;
  Seconds elapsed{};
  do {
    op();
    ++runs;
    elapsed = std::chrono::steady_clock::now() - start;
  } while (elapsed.count() < g_seconds || runs < min_runs);
  return runs / elapsed.count();
}

double raw_sign_rate(EVP_PKEY* key) {
  const std::string msg(64, 'x');
  unsigned char sig[1024];
  return rate([&] {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    size_t len = sizeof sig;
    EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    EVP_DigestSign(ctx, sig, &len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
    EVP_MD_CTX_free(ctx);
  });
}

double raw_verify_rate(EVP_PKEY* key) {
  const std::string msg(64, 'x');
  unsigned char sig[1024];
  size_t len = sizeof sig;
  EVP_MD_CTX* s = EVP_MD_CTX_new();
  EVP_DigestSignInit(s, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(s, sig, &len, reinterpret_cast<const unsigned char*>(msg.data()), msg.size());
  EVP_MD_CTX_free(s);
  return rate([&] {
    EVP_MD_CTX* ctx = EVP_MD_CTX_new();
    EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key);
    if (EVP_DigestVerify(ctx, sig, len, reinterpret_cast<const unsigned char*>(msg.data()),
                         msg.size()) != 1) {
      std::abort();
    }
    EVP_MD_CTX_free(ctx);
  });
}

std::string make_package(size_t target_bytes) {
  const nlohmann::json meta = {
      {"from", {{"organ_id", "000.00.12.H50"}, {"organ_name", "UBND huyện Hướng Hóa"}}},
      {"to", {{{"organ_id", "000.00.13.H50"}, {"organ_name", "UBND huyện Đakrông"}}}},
      {"code", {{"number", "125"}, {"notation", "UBND-VP"}}},
      {"subject", "Về việc đo tốc độ ký và xác thực gói tin"}};
  // Base64 grows the attachment by 4/3; the header is about 2 KB.
  const size_t raw = target_bytes > 3000 ? (target_bytes - 2500) * 3 / 4 : 0;
  std::string bytes(raw, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  auto pkg = edxml::build_package(meta, {{"scan.pdf", std::move(bytes), "", ""}}, now_seconds());
  if (!pkg) {
    std::cerr << pkg.error().message << "\n";
    std::exit(2);
  }
  return *pkg;
}

// Peak RSS (KiB) of a fresh process (this binary, re-executed) that verifies
// `file` once from disk, as `edocgw verify --in FILE` does. The child reads
// its own VmHWM: a new program's memory, not this process's.
long verify_child_peak_rss_kb(const std::filesystem::path& pki, const std::filesystem::path& file) {
  const std::string cmd = "/proc/" + std::to_string(getpid()) + "/exe --verify-child '" +
                          pki.string() + "' '" + file.string() + "'";
  FILE* child = popen(cmd.c_str(), "r");
  if (child == nullptr) return -1;
  long kb = -1;
  if (std::fscanf(child, "%ld", &kb) != 1) kb = -1;
  return pclose(child) == 0 ? kb : -1;
}

int verify_child(const std::filesystem::path& pki, const std::filesystem::path& file) {
  auto trust = crypto::TrustStore::load({pki / "root.pem"}, {}, {pki / "crls.pem"});
  if (!trust) return 2;
  crypto::PackageVerifier verifier(*trust, {});
  if (!verifier.verify_file(file).valid) return 1;
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) std::printf("%ld\n", std::stol(line.substr(6)));
  }
  return 0;
}

// A real OCSP responder (`openssl ocsp`) for the sample issuing CA on a
// free loopback port, as the tests run it; stopped with the object.
struct OcspResponderProcess {
  int port = 0;
  pid_t pid = -1;
  explicit OcspResponderProcess(const std::filesystem::path& pki) {
    const int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    close(s);
    const std::string index = (pki / "issuing-index.txt").string(), ca = (pki / "ca.pem").string(),
                      cert = (pki / "ocsp.pem").string(), key = (pki / "ocsp.key").string(),
                      p = std::to_string(port);
    std::fflush(stdout);  // the child must not write this process's buffered output again
    pid = fork();
    if (pid == 0) {
      freopen("/dev/null", "w", stdout);
      freopen("/dev/null", "w", stderr);
      execlp("openssl", "openssl", "ocsp", "-index", index.c_str(), "-CA", ca.c_str(), "-rsigner",
             cert.c_str(), "-rkey", key.c_str(), "-port", p.c_str(), "-nmin", "10",
             static_cast<char*>(nullptr));
      _exit(127);
    }
  }
  ~OcspResponderProcess() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--verify-child") return verify_child(argv[2], argv[3]);
  if (argc < 2) {
    std::cerr << "usage: sign_verify_bench PKI_DIR [SECONDS_PER_CASE]\n";
    return 2;
  }
  const std::filesystem::path pki = argv[1];
  if (argc > 2) g_seconds = std::stod(argv[2]);

  auto rsa =
      crypto::load_identity({pki / "huong-hoa.pem", pki / "huong-hoa.key", pki / "ca.pem", ""});
  auto ec = crypto::load_identity(
      {pki / "huong-hoa-ec.pem", pki / "huong-hoa-ec.key", pki / "ca.pem", ""});
  if (!rsa || !ec) {
    std::cerr << "cannot load the sample identities from " << pki << "\n";
    return 2;
  }
  const double rsa_sign = raw_sign_rate(rsa->key.get());
  const double rsa_verify = raw_verify_rate(rsa->key.get());
  const double ec_sign = raw_sign_rate(ec->key.get());
  const double ec_verify = raw_verify_rate(ec->key.get());
  std::printf("raw EVP RSA-2048   sign %9.1f/s   verify %9.1f/s\n", rsa_sign, rsa_verify);
  std::printf("raw EVP ECDSA P-256 sign %9.1f/s   verify %9.1f/s\n", ec_sign, ec_verify);

  auto trust = crypto::TrustStore::load({pki / "root.pem"}, {}, {pki / "crls.pem"});
  if (!trust) {
    std::cerr << trust.error().message << "\n";
    return 2;
  }
  crypto::PackageVerifier verifier(*trust, {});
  auto signer = crypto::PackageSigner::create(std::move(*rsa));
  if (!signer) {
    std::cerr << signer.error().message << "\n";
    return 2;
  }

  double sign_10k = 0;
  const std::filesystem::path tmp =
      std::filesystem::temp_directory_path() / "edocgw-bench-40mb.xml";
  for (size_t size : {size_t{10} * 1024, size_t{1024} * 1024, size_t{40} * 1024 * 1024}) {
    const std::string pkg = make_package(size);
    const double mb = pkg.size() / 1e6;
    const auto signed_pkg = signer->sign(pkg, now_seconds());
    if (!signed_pkg) {
      std::cerr << signed_pkg.error().message << "\n";
      return 2;
    }
    const double s = rate([&] { (void)signer->sign(pkg, now_seconds()); });
    const double v = rate([&] {
      if (!verifier.verify(*signed_pkg).valid) std::abort();
    });
    std::printf("package %8.3f MB  sign %9.1f/s %8.1f MB/s   verify %9.1f/s %8.1f MB/s\n", mb, s,
                s * mb, v, v * mb);
    if (size == 10 * 1024) {
      sign_10k = s;
      // The caches of parsed certificates and validated paths off (cold),
      // then on again (warm, as `verify` above ran); and warm without CRLs.
      crypto::set_certificate_cache_capacity(0);
      trust->set_chain_cache_capacity(0);
      const double cold = rate([&] {
        if (!verifier.verify(*signed_pkg).valid) std::abort();
      });
      crypto::set_certificate_cache_capacity(512);
      trust->set_chain_cache_capacity(crypto::TrustStore::kChainCacheEntries);
      const double warm = rate([&] {
        if (!verifier.verify(*signed_pkg).valid) std::abort();
      });
      auto no_crls = crypto::TrustStore::load({pki / "root.pem"}, {}, {});
      if (!no_crls) return 2;
      crypto::PackageVerifier unrevoked(*no_crls, {});
      const double warm_no_crl = rate([&] {
        if (!unrevoked.verify(*signed_pkg).valid) std::abort();
      });
      std::printf(
          "package %8.3f MB  verify cold (no caches) %9.1f/s   warm %9.1f/s   warm, CRLs off "
          "%9.1f/s\n",
          mb, cold, warm, warm_no_crl);
      std::printf("ratio: 10 KB verify warm / cold = %.2f\n", warm / cold);
      std::printf("ratio: 10 KB verify warm / package sign = %.2f (target >= 1.00)\n", warm / s);
      std::printf("ratio: 10 KB verify warm, CRLs on / CRLs off = %.2f (target >= 0.90)\n",
                  warm / warm_no_crl);
      // Revocation as a gateway with ocsp="on" checks it: CRLs, and OCSP
      // through the revocation cache (a real responder answers the first
      // ask; the rest come from the cache), against revocation off.
      OcspResponderProcess responder(pki);
      {
        // Until the responder listens (asked directly: the cache would
        // remember a failure and not ask again for a minute).
        auto ca = crypto::load_certificates(pki / "ca.pem");
        if (!ca || ca->empty()) return 2;
        crypto::OcspSettings direct;
        direct.url = responder.url();
        bool up = false;
        for (int i = 0; i < 100 && !up; ++i) {
          up = crypto::check_ocsp(signer->certificate(), ca->front().get(), *trust, direct).ok();
          if (!up) usleep(100'000);
        }
        if (!up) {
          std::cerr << "the OCSP responder (openssl ocsp) did not answer\n";
          return 2;
        }
      }
      crypto::RevocationCacheSettings cs;
      cs.fetch_crls = false;
      cs.ocsp.url = responder.url();
      auto cache = crypto::RevocationCache::open(cs);
      if (!cache) return 2;
      crypto::VerifyOptions with_ocsp;
      with_ocsp.ocsp.emplace();
      with_ocsp.ocsp->url = responder.url();
      with_ocsp.revocation = crypto::RevocationPolicy::require;
      with_ocsp.revocation_cache = cache->get();
      crypto::PackageVerifier ocsp_verifier(*trust, with_ocsp);
      const double warm_ocsp = rate([&] {
        if (!ocsp_verifier.verify(*signed_pkg).valid) std::abort();
      });
      crypto::VerifyOptions off;
      off.revocation = crypto::RevocationPolicy::off;
      crypto::PackageVerifier off_verifier(*no_crls, off);
      const double warm_off = rate([&] {
        if (!off_verifier.verify(*signed_pkg).valid) std::abort();
      });
      const auto st = (*cache)->stats();
      if (st.ocsp_requests != 1 || st.ocsp_hits == 0) {
        std::cerr << "OCSP was not answered from the cache as measured\n";
        return 2;
      }
      std::printf(
          "package %8.3f MB  verify warm, revocation off %9.1f/s   CRLs + OCSP (cached) "
          "%9.1f/s   (%llu OCSP request(s), %llu cache hits)\n",
          mb, warm_off, warm_ocsp, static_cast<unsigned long long>(st.ocsp_requests),
          static_cast<unsigned long long>(st.ocsp_hits));
      std::printf(
          "ratio: 10 KB verify warm, CRLs + OCSP cached / revocation off = %.2f (target >= "
          "0.90)\n",
          warm_ocsp / warm_off);
      std::printf(
          "ratio: 10 KB verify warm, CRLs + OCSP cached / package sign = %.2f (target >= "
          "1.00)\n",
          warm_ocsp / s);
      std::printf("ratio: raw RSA-2048 verify / 10 KB verify warm = %.1f\n", rsa_verify / warm);
    }
    if (size == 40 * 1024 * 1024) {
      if (!write_file_atomic(tmp, *signed_pkg)) return 2;
      const double vf = rate([&] {
        if (!verifier.verify_file(tmp).valid) std::abort();
      });
      const long rss_kb = verify_child_peak_rss_kb(pki, tmp);
      std::printf(
          "package %8.3f MB  verify from file %9.1f/s %8.1f MB/s   peak RSS %.1f MB "
          "(%.2fx the package)\n",
          mb, vf, vf * mb, rss_kb / 1024.0, rss_kb * 1024.0 / signed_pkg->size());
      std::filesystem::remove(tmp);
    }
  }
  std::printf("ratio: 10 KB package sign / raw RSA-2048 sign = %.2f (target >= 0.60)\n",
              sign_10k / rsa_sign);
  return 0;
}
