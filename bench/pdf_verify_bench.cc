// bench/pdf_verify_bench.cc: what verifying the signatures inside a PDF
// costs, measured against hashing the same bytes once.
//
//   build/bench/pdf_verify_bench PKI_DIR [ROUNDS]
//
// PKI_DIR is made by certs-sample/make-sample-pki.sh (with tsa.pem). The PDF
// is made at start with the tests' fixture writer (tests/support/
// pdf_fixtures.h): about 10 MB (an incompressible image), signed by the
// official (`personal`) then by the organisation (`huong-hoa`), two
// incremental updates. Prints, as the median of ROUNDS runs (default 5):
//   1. SHA-256 of the file (the floor: every signature must hash the bytes
//      it covers), pdf::read_signed_pdf alone, crypto::PdfVerifier::verify
//      and its ratio to the SHA-256; the peak RSS growth of one verify() in
//      a fresh child process (this binary re-executed: ru_maxrss after the
//      file is read and the trust store loaded, then after the first verify);
//   2. crypto::PackageVerifier::verify of a signed edXML package carrying
//      that PDF as an attachment, with VerifyOptions::pdf_signatures on and
//      off, and their ratio (target <= 2.0).
#include <sys/resource.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "crypto/identity.h"
#include "crypto/package_signer.h"
#include "crypto/package_verifier.h"
#include "crypto/pdf_verifier.h"
#include "crypto/trust_store.h"
#include "edxml/package_builder.h"
#include "pdf/signed_pdf.h"
#include "tests/support/pdf_fixtures.h"
#include "util/time.h"

namespace {

using namespace edocgw;
namespace fixtures = edocgw::test::pdf;
using Millis = std::chrono::duration<double, std::milli>;

constexpr size_t kPdfPadding = 10u << 20;
constexpr const char* kSender = "000.00.12.H50";

int g_rounds = 5;

// The median time of `g_rounds` runs of `op` (after one warm-up run), in ms.
double median_ms(const std::function<void()>& op) {
  op();
  std::vector<double> times;
  for (int i = 0; i < g_rounds; ++i) {
    const auto start = std::chrono::steady_clock::now();
    op();
    times.push_back(Millis(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return times[times.size() / 2];
}

std::string sha256(const std::string& bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr)) std::abort();
  return std::string(reinterpret_cast<char*>(md), len);
}

// One allocation of exactly the file's size, so that reading leaves no
// high-water mark above "the file in memory" for the RSS measurement.
std::string read_file(const std::filesystem::path& path) {
  std::string bytes(std::filesystem::file_size(path), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!in) std::abort();
  return bytes;
}

// The official signs first, the organisation second (as Decree 30 documents are).
std::string make_signed_pdf(const std::filesystem::path& pki) {
  fixtures::BaseOptions base;
  base.pages = 2;
  base.padding_bytes = kPdfPadding;
  base.empty_signature_fields = 2;
  const std::string unsigned_pdf = fixtures::make_base_pdf(base);
  fixtures::SignOptions official;
  official.field_name = "Sig1";
  official.name = "Nguyen Van An";
  const std::string once =
      fixtures::sign_pdf(unsigned_pdf, fixtures::sample_signer(pki, "personal"), official);
  fixtures::SignOptions organisation;
  organisation.field_name = "Sig2";
  organisation.timestamp_by = fixtures::sample_signer(pki, "tsa");
  return fixtures::sign_pdf(once, fixtures::sample_signer(pki, "huong-hoa"), organisation);
}

crypto::PdfPolicy decree30_policy() {
  crypto::PdfPolicy policy;
  policy.require = crypto::PdfPolicy::Require::organisation;
  policy.official_required = true;
  return policy;
}

Result<crypto::TrustStore> load_trust(const std::filesystem::path& pki) {
  return crypto::TrustStore::load({pki / "root.pem"}, {pki / "ca.pem"}, {pki / "crls.pem"});
}

crypto::PdfVerifyOptions pdf_options() {
  crypto::PdfVerifyOptions options;
  options.policy.pdf = decree30_policy();
  options.sender_organ_id = kSender;
  return options;
}

long max_rss_kb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

// The child: reads the file, loads the trust store, then prints ru_maxrss
// before and after one PdfVerifier::verify.
int rss_child(const std::filesystem::path& pki, const std::filesystem::path& file) {
  const std::string pdf = read_file(file);
  auto trust = load_trust(pki);
  if (!trust) return 2;
  crypto::PdfVerifier verifier(*trust, pdf_options());
  const long before = max_rss_kb();
  const crypto::PdfReport report = verifier.verify(pdf, "bench.pdf");
  const long after = max_rss_kb();
  std::printf("%ld %ld %s\n", before, after, crypto::pdf_state_name(report.state));
  return 0;
}

void print_pdf_report(const crypto::PdfReport& report) {
  std::printf("  PDF report: %s%s%s, %zu signature(s)\n", crypto::pdf_state_name(report.state),
              report.reason.empty() ? "" : ": ", report.reason.c_str(), report.signatures.size());
  for (const auto& s : report.signatures)
    std::printf("    %s %s: %s%s%s\n", s.field_name.c_str(), s.sub_filter.c_str(),
                crypto::pdf_signature_state_name(s.state), s.reason.empty() ? "" : ": ",
                s.reason.c_str());
}

std::string make_signed_package(const std::filesystem::path& pki, const std::string& pdf) {
  const nlohmann::json meta = {
      {"from", {{"organ_id", kSender}, {"organ_name", "UBND huyện Hướng Hóa"}}},
      {"to", {{{"organ_id", "000.00.13.H50"}, {"organ_name", "UBND huyện Đakrông"}}}},
      {"code", {{"number", "123"}, {"notation", "QĐ-UBND"}}},
      {"subject", "Về việc đo chi phí xác thực chữ ký số trong tệp PDF"}};
  auto pkg = edxml::build_package(meta, {{"quyet-dinh-123.pdf", pdf, "application/pdf", ""}},
                                  now_seconds());
  if (!pkg) {
    std::cerr << "build_package: " << pkg.error().message << "\n";
    std::exit(2);
  }
  auto identity =
      crypto::load_identity({pki / "huong-hoa.pem", pki / "huong-hoa.key", pki / "ca.pem", ""});
  if (!identity) {
    std::cerr << "load_identity: " << identity.error().message << "\n";
    std::exit(2);
  }
  auto signer = crypto::PackageSigner::create(std::move(*identity));
  if (!signer) {
    std::cerr << "PackageSigner: " << signer.error().message << "\n";
    std::exit(2);
  }
  auto signed_pkg = signer->sign(*pkg, now_seconds());
  if (!signed_pkg) {
    std::cerr << "sign: " << signed_pkg.error().message << "\n";
    std::exit(2);
  }
  return *signed_pkg;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 4 && std::string(argv[1]) == "--rss-child") return rss_child(argv[2], argv[3]);
  if (argc < 2) {
    std::cerr << "usage: pdf_verify_bench PKI_DIR [ROUNDS]\n";
    return 2;
  }
  const std::filesystem::path pki = argv[1];
  if (argc > 2) g_rounds = std::max(1, std::stoi(argv[2]));

  auto trust = load_trust(pki);
  if (!trust) {
    std::cerr << trust.error().message << "\n";
    return 2;
  }
  const std::string pdf = make_signed_pdf(pki);
  const double mb = pdf.size() / 1e6;
  std::printf(
      "PDF %.3f MB, 2 signatures (personal, then huong-hoa with a signature timestamp), "
      "median of %d rounds\n",
      mb, g_rounds);

  // 1. The PDF alone.
  const double hash_ms = median_ms([&] { (void)sha256(pdf); });
  std::printf("SHA-256 of the file            %9.2f ms  %8.1f MB/s\n", hash_ms,
              mb / (hash_ms / 1000));
  bool read_ok = true;
  const double read_ms = median_ms([&] {
    auto doc = pdf::read_signed_pdf(pdf);
    read_ok = doc.ok() && doc->problem == pdf::FileProblem::none && doc->signatures.size() == 2;
  });
  std::printf("pdf::read_signed_pdf           %9.2f ms  (%.2fx the SHA-256)%s\n", read_ms,
              read_ms / hash_ms, read_ok ? "" : "  [did not read 2 signatures cleanly]");
  crypto::PdfVerifier verifier(*trust, pdf_options());
  crypto::PdfReport report;
  const double verify_ms = median_ms([&] { report = verifier.verify(pdf, "bench.pdf"); });
  std::printf("crypto::PdfVerifier::verify    %9.2f ms  %8.1f MB/s  ratio to SHA-256 %.2f\n",
              verify_ms, mb / (verify_ms / 1000), verify_ms / hash_ms);
  print_pdf_report(report);

  const std::filesystem::path tmp =
      std::filesystem::temp_directory_path() / ("edocgw-pdf-bench-" + std::to_string(getpid()));
  { std::ofstream(tmp, std::ios::binary) << pdf; }
  const std::string cmd = "/proc/" + std::to_string(getpid()) + "/exe --rss-child '" +
                          pki.string() + "' '" + tmp.string() + "'";
  if (FILE* child = popen(cmd.c_str(), "r")) {
    long before = -1, after = -1;
    char state[64] = "";
    const int got = std::fscanf(child, "%ld %ld %63s", &before, &after, state);
    const int status = pclose(child);
    if (got == 3 && status == 0) {
      std::printf(
          "peak RSS growth of one verify  %9.1f MB  (%.2fx the PDF; fresh child process, "
          "ru_maxrss %.1f -> %.1f MB around its first verify, file already in memory; %s)\n",
          (after - before) / 1024.0, (after - before) * 1024.0 / pdf.size(), before / 1024.0,
          after / 1024.0, state);
    } else {
      std::printf("peak RSS growth: the child process failed\n");
    }
  }
  std::filesystem::remove(tmp);

  // 2. Inside a package: the package verification with and without the PDF checks.
  const std::string package = make_signed_package(pki, pdf);
  crypto::VerifyOptions with_pdf;
  with_pdf.policy.pdf = decree30_policy();
  with_pdf.pdf_signatures = true;
  crypto::VerifyOptions without_pdf = with_pdf;
  without_pdf.pdf_signatures = false;
  crypto::PackageVerifier verify_with(*trust, with_pdf), verify_without(*trust, without_pdf);
  crypto::VerificationReport with_report, without_report;
  const double without_ms = median_ms([&] { without_report = verify_without.verify(package); });
  const double with_ms = median_ms([&] { with_report = verify_with.verify(package); });
  const double pmb = package.size() / 1e6;
  std::printf("package %.3f MB (the PDF base64 in an edXML attachment)\n", pmb);
  std::printf("PackageVerifier, PDF checks off %8.2f ms  %8.1f MB/s  %s%s%s\n", without_ms,
              pmb / (without_ms / 1000), without_report.valid ? "valid" : "NOT valid",
              without_report.reason.empty() ? "" : ": ", without_report.reason.c_str());
  std::printf("PackageVerifier, PDF checks on  %8.2f ms  %8.1f MB/s  %s%s%s\n", with_ms,
              pmb / (with_ms / 1000), with_report.valid ? "valid" : "NOT valid",
              with_report.reason.empty() ? "" : ": ", with_report.reason.c_str());
  for (const auto& r : with_report.pdf) print_pdf_report(r);
  std::printf("ratio: package verify with / without PDF checks = %.2f (target <= 2.00)\n",
              with_ms / without_ms);
  return 0;
}
