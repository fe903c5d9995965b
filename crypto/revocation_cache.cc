#include "crypto/revocation_cache.h"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <unordered_map>

#include "util/bytes.h"

// What lies under settings.dir (format 1; a change of these bytes changes
// the "edocgw-ocsp" version and the loader learns the old one):
//
//   crl/<H>.url    the URL the CRL comes from, one line; H is the lower-case
//                  hex SHA-256 of the URL, checked on loading. Written once,
//                  before the first <H>.crl, and never changed.
//   crl/<H>.crl    the last CRL accepted from that URL, DER (a PEM body is
//                  kept as DER).
//   ocsp/<I>.der   the last OCSP response for a certificate, DER as the
//                  responder sent it; I is the hex of the DER CertID (SHA-1
//                  issuer name hash, issuer key hash, serial).
//   ocsp/<I>.meta  "edocgw-ocsp 1\nurl URL\nfetched UNIX-SECONDS\n", written
//                  after <I>.der: a crash between the two leaves a new
//                  response with an older fetch time (it expires sooner,
//                  never later); a .der without its .meta is skipped.
//
// Each file is written to a temporary beside it and renamed, so a crash
// leaves the old file or the new one; open() removes stray temporaries.

namespace edocgw::crypto {
namespace {

namespace fs = std::filesystem;
using std::chrono::seconds;

// RFC 5280 requires nextUpdate in CRLs; one without is fetched again after this.
constexpr seconds kCrlWithoutNextUpdateLifetime{24 * 3600};
constexpr std::size_t kMaxOcspFileBytes = 1 << 20;
constexpr char kOcspMetaMagic[] = "edocgw-ocsp 1";

using OcspResponsePtr =
    std::unique_ptr<OCSP_RESPONSE, OsslDeleter<OCSP_RESPONSE, OCSP_RESPONSE_free>>;
using OcspBasicPtr =
    std::unique_ptr<OCSP_BASICRESP, OsslDeleter<OCSP_BASICRESP, OCSP_BASICRESP_free>>;
using OcspCertIdPtr = std::unique_ptr<OCSP_CERTID, OsslDeleter<OCSP_CERTID, OCSP_CERTID_free>>;
using Asn1IntegerPtr = std::unique_ptr<ASN1_INTEGER, OsslDeleter<ASN1_INTEGER, ASN1_INTEGER_free>>;
using DistPointsPtr =
    std::unique_ptr<CRL_DIST_POINTS, OsslDeleter<CRL_DIST_POINTS, CRL_DIST_POINTS_free>>;

std::optional<TimePoint> time_of(const ASN1_TIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return TimePoint(seconds(timegm(&tm)));
}

X509CrlPtr copy(const X509CrlPtr& crl) {
  if (!crl) return nullptr;
  X509_CRL_up_ref(crl.get());
  return X509CrlPtr(crl.get());
}

X509Ptr copy(X509* cert) {
  return cert == nullptr ? nullptr : up_ref(cert);
}

std::string der_of(X509_CRL* crl) {
  unsigned char* der = nullptr;
  const int n = i2d_X509_CRL(crl, &der);
  if (n <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<size_t>(n));
  OPENSSL_free(der);
  return out;
}

// A CRL in DER, or in PEM ("-----BEGIN X509 CRL-----"), and nothing after it.
X509CrlPtr parse_crl(const std::string& body) {
  const auto first = body.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && body.compare(first, 10, "-----BEGIN") == 0) {
    BioPtr bio(BIO_new_mem_buf(body.data(), static_cast<int>(body.size())));
    X509CrlPtr crl(PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr));
    ERR_clear_error();
    return crl;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  X509CrlPtr crl(d2i_X509_CRL(nullptr, &p, static_cast<long>(body.size())));
  ERR_clear_error();
  if (crl && p != reinterpret_cast<const unsigned char*>(body.data()) + body.size()) return nullptr;
  return crl;
}

Asn1IntegerPtr crl_number(X509_CRL* crl) {
  return Asn1IntegerPtr(
      static_cast<ASN1_INTEGER*>(X509_CRL_get_ext_d2i(crl, NID_crl_number, nullptr, nullptr)));
}

// Whether `fresh` is older than `held`: an earlier thisUpdate, or a smaller
// cRLNumber when both have one.
bool older(X509_CRL* fresh, X509_CRL* held) {
  const auto fresh_time = time_of(X509_CRL_get0_lastUpdate(fresh));
  const auto held_time = time_of(X509_CRL_get0_lastUpdate(held));
  if (fresh_time && held_time && *fresh_time < *held_time) return true;
  const auto fresh_number = crl_number(fresh), held_number = crl_number(held);
  return fresh_number && held_number && ASN1_INTEGER_cmp(fresh_number.get(), held_number.get()) < 0;
}

bool fetchable(const std::string& url) {
  std::string scheme = url.substr(0, url.find(':'));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return url.find("://") == scheme.size() && (scheme == "http" || scheme == "https");
}

// A distribution point to fetch, and what judges what it serves.
struct CrlWant {
  std::string url;
  X509* cert = nullptr;    // the certificate that names it
  X509* issuer = nullptr;  // the next one of the path
};

// Bounds on what a certificate can make us fetch: real certificates name
// one or two points.
constexpr size_t kMaxPointsPerCertificate = 4;
// A point that never gave a CRL is dropped this long after it was last named.
constexpr std::chrono::hours kForgetNeverHeldAfter{1};
constexpr size_t kMaxPointsPerPath = 16;

void add_points(X509* cert, X509* issuer, int nid, std::vector<CrlWant>& out) {
  size_t taken = 0;
  DistPointsPtr points(
      static_cast<CRL_DIST_POINTS*>(X509_get_ext_d2i(cert, nid, nullptr, nullptr)));
  for (int i = 0; points && i < sk_DIST_POINT_num(points.get()); ++i) {
    const DIST_POINT* dp = sk_DIST_POINT_value(points.get(), i);
    if (dp->distpoint == nullptr || dp->distpoint->type != 0) continue;  // a relative name
    const GENERAL_NAMES* names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, j);
      if (name->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
      std::string url(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<size_t>(ASN1_STRING_length(uri)));
      if (!fetchable(url)) continue;  // ldap:// and the like
      // A point with a cRLIssuer serves an indirect CRL, which this cache
      // cannot judge (its signer is off the path): configure it as a file.
      if (dp->CRLissuer != nullptr) continue;
      const bool known =
          std::any_of(out.begin(), out.end(), [&](const CrlWant& w) { return w.url == url; });
      if (known) continue;
      if (++taken > kMaxPointsPerCertificate || out.size() >= kMaxPointsPerPath) break;
      out.push_back({std::move(url), cert, issuer});
    }
  }
  ERR_clear_error();
}

// The points to fetch for a path (leaf first, anchor last; the anchor needs
// none): each certificate's CRL distribution points, then its freshestCRL.
std::vector<CrlWant> points_of(const std::vector<X509*>& path) {
  std::vector<CrlWant> wants;
  for (size_t i = 0; i + 1 < path.size(); ++i) {
    add_points(path[i], path[i + 1], NID_crl_distribution_points, wants);
    add_points(path[i], path[i + 1], NID_freshest_crl, wants);
  }
  return wants;
}

std::optional<std::string> cert_id_hex(X509* cert, X509* issuer) {
  OcspCertIdPtr id(OCSP_cert_to_id(nullptr, cert, issuer));
  unsigned char* der = nullptr;
  const int n = id ? i2d_OCSP_CERTID(id.get(), &der) : 0;
  if (n <= 0) return std::nullopt;
  std::string hex = to_hex(std::string_view(reinterpret_cast<char*>(der), static_cast<size_t>(n)));
  OPENSSL_free(der);
  return hex;
}

// The times of the first answer of an OCSP response, or nullopt when it is
// not one (judging it comes later, with the certificate at hand).
struct OcspTimes {
  TimePoint this_update;
  std::optional<TimePoint> next_update;
};
std::optional<OcspTimes> ocsp_times(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  OcspBasicPtr basic(response ? OCSP_response_get1_basic(response.get()) : nullptr);
  OCSP_SINGLERESP* single = basic ? OCSP_resp_get0(basic.get(), 0) : nullptr;
  ERR_clear_error();
  if (single == nullptr) return std::nullopt;
  ASN1_GENERALIZEDTIME *this_update = nullptr, *next_update = nullptr;
  OCSP_single_get0_status(single, nullptr, nullptr, &this_update, &next_update);
  const auto this_t = time_of(this_update);
  if (!this_t) return std::nullopt;
  return OcspTimes{*this_t, time_of(next_update)};
}

// Past 3/4 of [from, to].
bool due(TimePoint now, TimePoint from, TimePoint to) {
  return now >= from + (to - from) * 3 / 4;
}

// At most n at once; a wait for a slot is bounded.
class FetchSlots {
 public:
  explicit FetchSlots(std::size_t n) : free_(n) {}
  bool acquire(std::chrono::milliseconds wait) {
    std::unique_lock lock(mutex_);
    if (!freed_.wait_for(lock, wait, [&] { return free_ > 0; })) return false;
    --free_;
    return true;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      ++free_;
    }
    freed_.notify_one();
  }

 private:
  std::mutex mutex_;
  std::condition_variable freed_;
  std::size_t free_;
};

struct CrlEntry {
  std::string url;
  X509CrlPtr crl;
  TimePoint this_update{}, fetched_at{}, last_used{};
  std::optional<TimePoint> next_update;
  // What judges the next CRL from this URL: the certificate that named it
  // and its issuer. Unknown for a CRL loaded from disk until it is asked for.
  X509Ptr named_by, issuer;
  bool fetching = false;
  std::uint64_t attempts = 0;  // fetches finished
  std::string error;           // of the last fetch; "" when it succeeded
  std::optional<TimePoint> failed_at;
};

struct OcspEntry {
  std::string key;  // hex of the DER CertID
  std::optional<OcspAnswer> answer;
  TimePoint this_update{}, fetched_at{}, last_used{};
  std::optional<TimePoint> next_update;
  bool judged = false;   // false: loaded from disk, not judged since
  X509Ptr cert, issuer;  // of the last ask: what refresh() renews with
  std::string url;
  bool asking = false;
  std::uint64_t attempts = 0;
  std::string error;
  std::optional<TimePoint> failed_at;
};

// What a CRL fetch came to.
struct Fetched {
  X509CrlPtr crl;  // null: failed or refused
  std::string der;
  bool refused = false;  // an answer came and was not accepted
  std::string error;
};

}  // namespace

Result<std::string> http_get(const std::string& url, std::uint64_t max_bytes,
                             std::chrono::milliseconds timeout) {
  struct Body {
    std::string bytes;
    std::uint64_t max;
    bool too_large = false;
  } body{{}, max_bytes};
  const auto collect = +[](char* data, size_t size, size_t n, void* out) -> size_t {
    auto* b = static_cast<Body*>(out);
    if (b->bytes.size() + size * n > b->max) {
      b->too_large = true;
      return 0;  // aborts the transfer
    }
    b->bytes.append(data, size * n);
    return size * n;
  };
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return make_error(Errc::internal, "curl_easy_init failed");
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXREDIRS, 3L);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_bytes));
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl.get());
  if (body.too_large || rc == CURLE_FILESIZE_EXCEEDED) {
    return make_error(Errc::invalid, "the CRL at " + url + " is larger than " +
                                         std::to_string(max_bytes) + " bytes");
  }
  if (rc != CURLE_OK) {
    return make_error(Errc::io, url + " did not answer: " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return make_error(Errc::io, url + " answered HTTP " + std::to_string(status));
  return std::move(body.bytes);
}

struct RevocationCache::State {
  RevocationCacheSettings settings;
  fs::path crl_dir, ocsp_dir;  // empty: memory only
  FetchSlots slots;
  std::atomic<std::uint64_t> generation{0};

  mutable std::mutex mutex;
  std::condition_variable done;                               // a fetch or an ask finished
  std::map<std::string, std::shared_ptr<CrlEntry>> crls;      // by URL
  std::map<std::string, std::shared_ptr<OcspEntry>> answers;  // by CertID hex
  // SHA-1 fingerprints of certificate and issuer (OpenSSL keeps them with
  // each parsed certificate) -> CertID hex: the CertID's own hashes are not
  // recomputed for every verification. Cleared whole when it grows past
  // twice max_ocsp_answers.
  std::unordered_map<std::string, std::string> cert_ids;
  RevocationCacheStats counters;
  std::vector<std::string> warnings;

  explicit State(RevocationCacheSettings s)
      : settings(std::move(s)), slots(settings.max_fetches_in_flight) {
    if (!settings.dir.empty()) {
      crl_dir = settings.dir / "crl";
      ocsp_dir = settings.dir / "ocsp";
    }
  }

  TimePoint now() const { return settings.clock(); }

  // --- CRLs ---

  bool fresh(const CrlEntry& e, TimePoint now) const {
    return e.next_update ? now < *e.next_update
                         : now < e.fetched_at + kCrlWithoutNextUpdateLifetime;
  }

  bool renewal_due(const CrlEntry& e, TimePoint now) const {
    return e.next_update ? due(now, e.this_update, *e.next_update)
                         : due(now, e.fetched_at, e.fetched_at + kCrlWithoutNextUpdateLifetime);
  }

  bool resting(const CrlEntry& e, TimePoint now) const {
    return e.failed_at && now < *e.failed_at + settings.retry_after_failure;
  }

  fs::path crl_file(const std::string& url, const char* ext) const {
    return crl_dir / (sha256_hex(url) + ext);
  }

  void hold(CrlEntry& e, X509CrlPtr crl, TimePoint fetched_at) {
    e.this_update = time_of(X509_CRL_get0_lastUpdate(crl.get())).value_or(TimePoint{});
    e.next_update = time_of(X509_CRL_get0_nextUpdate(crl.get()));
    e.fetched_at = fetched_at;
    e.crl = std::move(crl);
    ++generation;
  }

  // Removes an entry (memory and disk); the lock is held.
  void forget_crl(std::string url) {  // a copy: callers pass keys of the map
    const auto it = crls.find(url);
    if (it == crls.end()) return;
    if (it->second->crl) ++generation;
    crls.erase(it);
    if (crl_dir.empty()) return;
    std::error_code ec;
    fs::remove(crl_file(url, ".crl"), ec);
    fs::remove(crl_file(url, ".url"), ec);
  }

  std::shared_ptr<CrlEntry> crl_entry(const std::string& url) {
    if (const auto it = crls.find(url); it != crls.end()) return it->second;
    auto e = std::make_shared<CrlEntry>();
    e->url = url;
    e->last_used = now();
    crls.emplace(url, e);
    trim_crls(url);
    return e;
  }

  // Least recently used first, never one being fetched nor `keep`.
  void trim_crls(const std::string& keep = {}) {
    while (crls.size() > settings.max_crls) {
      auto victim = crls.end();
      for (auto it = crls.begin(); it != crls.end(); ++it) {
        if (it->second->fetching || it->first == keep) continue;
        if (victim == crls.end() || it->second->last_used < victim->second->last_used) victim = it;
      }
      if (victim == crls.end()) return;
      forget_crl(victim->first);
    }
  }

  X509CrlPtr crl_for(const CrlWant& want) {
    std::unique_lock lock(mutex);
    const auto e = crl_entry(want.url);
    const TimePoint now = this->now();
    e->last_used = now;
    e->named_by = copy(want.cert);
    e->issuer = copy(want.issuer);
    if (e->crl && fresh(*e, now)) return copy(e->crl);
    if (e->fetching) {  // someone else's fetch: its outcome, whatever it is
      const auto attempt = e->attempts;
      done.wait(lock, [&] { return !e->fetching || e->attempts != attempt; });
      return copy(e->crl);
    }
    if (resting(*e, now)) return copy(e->crl);
    fetch(lock, e);
    return copy(e->crl);
  }

  // Fetches e's URL and holds what is accepted. The lock is held on entry
  // and on return, released while fetching; e is not being fetched.
  void fetch(std::unique_lock<std::mutex>& lock, const std::shared_ptr<CrlEntry>& e) {
    e->fetching = true;
    ++counters.crl_fetches;
    const X509CrlPtr held = copy(e->crl);
    const X509Ptr named_by = copy(e->named_by.get()), issuer = copy(e->issuer.get());
    lock.unlock();
    Fetched got = fetch_crl(e->url, named_by.get(), issuer.get(), held.get());
    if (got.crl && !got.der.empty()) persist_crl(e->url, got.der);
    lock.lock();
    e->fetching = false;
    ++e->attempts;
    if (got.crl) {
      e->error.clear();
      e->failed_at.reset();
      if (!held || got.der != der_of(held.get())) hold(*e, std::move(got.crl), now());
    } else {
      ++(got.refused ? counters.crl_refused : counters.crl_fetch_failures);
      e->error = got.error;
      e->failed_at = now();
    }
    done.notify_all();
  }

  // The network and the judgement; no lock held.
  Fetched fetch_crl(const std::string& url, X509* named_by, X509* issuer, X509_CRL* held) {
    Fetched out;
    if (!slots.acquire(settings.fetch_timeout)) {
      out.error = "not fetched: " + std::to_string(settings.max_fetches_in_flight) +
                  " other CRL fetches took all the time allowed";
      return out;
    }
    auto body = settings.get(url, settings.max_crl_bytes, settings.fetch_timeout);
    slots.release();
    if (!body) {
      out.refused = body.error().code == Errc::invalid;
      out.error = body.error().message;
      return out;
    }
    out.refused = true;
    if (body->size() > settings.max_crl_bytes) {
      out.error = "the CRL at " + url + " is larger than " +
                  std::to_string(settings.max_crl_bytes) + " bytes";
      return out;
    }
    X509CrlPtr crl = parse_crl(*body);
    if (!crl) {
      out.error = "what " + url + " serves is not a CRL (DER or PEM)";
      return out;
    }
    // Only a CRL of the issuer of the certificate that named the point,
    // signed with that issuer's key, is taken. One under another name could
    // not be judged here, and taking it unjudged would let whoever sits on
    // the (plain HTTP) path replace the real CRL for good.
    if (named_by == nullptr || issuer == nullptr ||
        X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(issuer)) != 0) {
      out.error = "the CRL at " + url + " is issued by '" +
                  name_text(X509_CRL_get_issuer(crl.get())) +
                  "', not by the issuer of the certificate naming it" +
                  (issuer != nullptr ? " ('" + describe(issuer).subject + "')" : std::string()) +
                  "; indirect CRLs are taken from configured files only";
      return out;
    }
    if (X509_CRL_verify(crl.get(), X509_get0_pubkey(issuer)) != 1) {
      ERR_clear_error();
      out.error = "the CRL at " + url + " is not signed by '" + describe(issuer).subject + "'";
      return out;
    }
    if (const auto issued = time_of(X509_CRL_get0_lastUpdate(crl.get()));
        !issued || *issued > now() + settings.clock_skew) {
      out.error = "the CRL at " + url + " is dated in the future (thisUpdate " +
                  (issued ? format_rfc3339(*issued) : std::string("unreadable")) + ")";
      return out;
    }
    if (held != nullptr && older(crl.get(), held)) {
      out.error = "the CRL at " + url + " is older than the one held (thisUpdate, cRLNumber)";
      return out;
    }
    out.der = der_of(crl.get());
    out.crl = std::move(crl);
    out.refused = false;
    return out;
  }

  void persist_crl(const std::string& url, const std::string& der) {
    if (crl_dir.empty()) return;
    Status written;
    if (!fs::exists(crl_file(url, ".url")))
      written = write_file_atomic(crl_file(url, ".url"), url + "\n", false);
    if (written) written = write_file_atomic(crl_file(url, ".crl"), der, false);
    if (!written)
      warn("the CRL from " + url + " is kept in memory only: " + written.error().message);
  }

  void warn(std::string text) {
    std::lock_guard lock(warnings_mutex);
    warnings.push_back(std::move(text));
  }
  std::mutex warnings_mutex;

  // --- OCSP ---

  bool current(const OcspEntry& e, TimePoint now) const {
    if (!e.answer || now + settings.clock_skew < e.this_update) return false;
    return e.next_update ? now <= *e.next_update + settings.clock_skew
                         : now < e.fetched_at + settings.ocsp_default_lifetime;
  }

  bool renewal_due(const OcspEntry& e, TimePoint now) const {
    return e.next_update ? due(now, e.this_update, *e.next_update)
                         : due(now, e.fetched_at, e.fetched_at + settings.ocsp_default_lifetime);
  }

  bool resting(const OcspEntry& e, TimePoint now) const {
    return e.failed_at && now < *e.failed_at + settings.retry_after_failure;
  }

  fs::path ocsp_file(const std::string& key, const char* ext) const {
    return ocsp_dir / (key + ext);
  }

  std::shared_ptr<OcspEntry> answer_entry(const std::string& key) {
    if (const auto it = answers.find(key); it != answers.end()) return it->second;
    auto e = std::make_shared<OcspEntry>();
    e->key = key;
    e->last_used = now();
    answers.emplace(key, e);
    trim_answers(key);
    return e;
  }

  void forget_answer(std::string key) {  // a copy: callers pass keys of the map
    answers.erase(key);
    if (ocsp_dir.empty()) return;
    std::error_code ec;
    fs::remove(ocsp_file(key, ".der"), ec);
    fs::remove(ocsp_file(key, ".meta"), ec);
  }

  void trim_answers(const std::string& keep = {}) {
    while (answers.size() > settings.max_ocsp_answers) {
      auto victim = answers.end();
      for (auto it = answers.begin(); it != answers.end(); ++it) {
        if (it->second->asking || it->first == keep) continue;
        if (victim == answers.end() || it->second->last_used < victim->second->last_used)
          victim = it;
      }
      if (victim == answers.end()) return;
      forget_answer(victim->first);
    }
  }

  void hold(OcspEntry& e, OcspAnswer answer, TimePoint fetched_at) {
    e.this_update =
        parse_rfc3339(answer.this_update).ok() ? *parse_rfc3339(answer.this_update) : fetched_at;
    const auto next = parse_rfc3339(answer.next_update);
    e.next_update = next.ok() ? std::optional<TimePoint>(*next) : std::nullopt;
    e.fetched_at = fetched_at;
    e.url = answer.url;
    e.answer = std::move(answer);
    e.judged = true;
  }

  // Asks the responder about e's certificate and holds a judged answer.
  // The lock is held on entry and on return, released while asking.
  Result<OcspAnswer> ask(std::unique_lock<std::mutex>& lock, const std::shared_ptr<OcspEntry>& e,
                         const TrustStore& trust) {
    e->asking = true;
    ++counters.ocsp_requests;
    const X509Ptr cert = copy(e->cert.get()), issuer = copy(e->issuer.get());
    const TimePoint now = this->now();
    lock.unlock();
    auto answer =
        ask_ocsp(cert.get(), issuer.get(), trust, settings.ocsp, now, settings.clock_skew);
    if (answer) persist_answer(e->key, *answer, now);
    lock.lock();
    e->asking = false;
    ++e->attempts;
    if (answer) {
      hold(*e, *answer, now);
      e->error.clear();
      e->failed_at.reset();
    } else {
      ++counters.ocsp_failures;
      e->error = answer.error().message;
      e->failed_at = now;
      if (e->url.empty())
        e->url = settings.ocsp.url.empty() ? ocsp_url_of(cert.get()) : settings.ocsp.url;
    }
    done.notify_all();
    return answer;
  }

  // Judges an answer loaded from disk before its first use; drops it when
  // it does not hold. Lock as for ask().
  void judge_kept(std::unique_lock<std::mutex>& lock, const std::shared_ptr<OcspEntry>& e,
                  const TrustStore& trust) {
    e->asking = true;
    std::string der = e->answer->response_der;
    const X509Ptr cert = copy(e->cert.get()), issuer = copy(e->issuer.get());
    const TimePoint now = this->now();
    lock.unlock();
    auto judged = judge_ocsp_response(std::move(der), cert.get(), issuer.get(), trust, now,
                                      settings.clock_skew, e->url);
    lock.lock();
    e->asking = false;
    if (judged) {
      hold(*e, std::move(*judged), e->fetched_at);
    } else {
      warn("ocsp/" + e->key + ".der was dropped (asked again): " + judged.error().message);
      e->answer.reset();
      if (!ocsp_dir.empty()) {
        std::error_code ec;
        fs::remove(ocsp_file(e->key, ".der"), ec);
        fs::remove(ocsp_file(e->key, ".meta"), ec);
      }
    }
    done.notify_all();
  }

  void persist_answer(const std::string& key, const OcspAnswer& answer, TimePoint fetched_at) {
    if (ocsp_dir.empty()) return;
    const std::string meta = std::string(kOcspMetaMagic) + "\nurl " + answer.url + "\nfetched " +
                             std::to_string(fetched_at.time_since_epoch().count()) + "\n";
    Status written = write_file_atomic(ocsp_file(key, ".der"), answer.response_der, false);
    if (written) written = write_file_atomic(ocsp_file(key, ".meta"), meta, false);
    if (!written)
      warn("the OCSP answer from " + answer.url +
           " is kept in memory only: " + written.error().message);
  }

  // --- loading ---

  Status load() {
    for (const auto& folder : {crl_dir, ocsp_dir}) {
      std::error_code ec;
      fs::create_directories(folder, ec);
      if (ec) return make_error(Errc::io, "cannot create " + folder.string() + ": " + ec.message());
      for (const auto& item : fs::directory_iterator(folder, ec)) {
        const auto name = item.path().filename().string();
        if (name.rfind(".tmp-", 0) == 0) {  // a write a crash cut short
          fs::remove(item.path(), ec);
        } else if (folder == crl_dir && item.path().extension() == ".crl") {
          load_crl(item.path());
        } else if (folder == ocsp_dir && item.path().extension() == ".der") {
          load_answer(item.path());
        } else if (item.path().extension() != ".url" && item.path().extension() != ".meta") {
          warn("skipped " + item.path().string() + ": not a file of the revocation cache");
        }
      }
      if (ec) return make_error(Errc::io, "cannot list " + folder.string() + ": " + ec.message());
    }
    trim_crls();
    trim_answers();
    return Status::success();
  }

  void load_crl(const fs::path& file) {
    auto url_text = read_file(fs::path(file).replace_extension(".url"), 64 * 1024);
    std::string url = url_text ? url_text->substr(0, url_text->find('\n')) : "";
    if (url.empty() || sha256_hex(url) != file.stem().string())
      return warn("skipped " + file.string() + ": its .url is missing or does not match");
    auto der = read_file(file, settings.max_crl_bytes);
    X509CrlPtr crl = der ? parse_crl(*der) : nullptr;
    if (!crl) return warn("skipped " + file.string() + ": not a readable CRL");
    // When it was fetched: the file's time, never later than now (a CRL
    // without nextUpdate is kept for a day from then, not from each start).
    TimePoint fetched_at = now();
    struct stat st {};
    if (::stat(file.c_str(), &st) == 0)
      fetched_at = std::min(fetched_at, TimePoint(seconds(st.st_mtime)));
    const auto e = crl_entry(url);
    e->last_used = now();
    hold(*e, std::move(crl), fetched_at);
  }

  void load_answer(const fs::path& file) {
    const std::string key = file.stem().string();
    auto meta = read_file(fs::path(file).replace_extension(".meta"), 64 * 1024);
    std::string url;
    long long fetched = -1;
    if (meta && meta->rfind(std::string(kOcspMetaMagic) + "\nurl ", 0) == 0) {
      const auto url_at = sizeof kOcspMetaMagic - 1 + 5, url_end = meta->find('\n', url_at);
      url = meta->substr(url_at, url_end == std::string::npos ? 0 : url_end - url_at);
      if (url_end != std::string::npos && meta->compare(url_end + 1, 8, "fetched ") == 0)
        fetched = std::atoll(meta->c_str() + url_end + 9);
    }
    if (!is_lower_hex(key) || url.empty() || fetched < 0)
      return warn("skipped " + file.string() + ": its .meta is missing or unreadable");
    auto der = read_file(file, kMaxOcspFileBytes);
    const auto times = der ? ocsp_times(*der) : std::nullopt;
    if (!times) return warn("skipped " + file.string() + ": not a readable OCSP response");
    const auto e = answer_entry(key);
    e->answer = OcspAnswer{};
    e->answer->url = url;
    e->answer->response_der = std::move(*der);
    e->url = url;
    e->this_update = times->this_update;
    e->next_update = times->next_update;
    // A time from the file is believed only between the answer's thisUpdate and now.
    e->fetched_at =
        std::clamp(TimePoint(seconds(fetched)), std::min(times->this_update, now()), now());
    e->last_used = now();
    e->judged = false;
  }
};

Result<std::shared_ptr<RevocationCache>> RevocationCache::open(RevocationCacheSettings settings) {
  if (settings.max_fetches_in_flight == 0 || !settings.get || !settings.clock)
    return make_error(Errc::usage,
                      "a revocation cache needs max_fetches_in_flight >= 1, a fetch and a clock");
  auto state = std::make_unique<State>(std::move(settings));
  if (!state->settings.dir.empty()) {
    std::lock_guard lock(state->mutex);
    if (auto loaded = state->load(); !loaded) return loaded.error();
  }
  return std::shared_ptr<RevocationCache>(new RevocationCache(std::move(state)));
}

RevocationCache::RevocationCache(std::unique_ptr<State> state) : state_(std::move(state)) {}
RevocationCache::~RevocationCache() = default;

std::vector<SourcedCrl> RevocationCache::crls_for(const std::vector<X509*>& path) {
  if (!state_->settings.fetch_crls) return {};
  const std::vector<CrlWant> wants = points_of(path);
  std::vector<SourcedCrl> out;
  for (const auto& want : wants) {
    if (auto crl = state_->crl_for(want)) out.push_back({std::move(crl), want.url});
  }
  return out;
}

std::vector<SourcedCrl> RevocationCache::held_crls_for(const std::vector<X509*>& path) const {
  const std::vector<CrlWant> wants = points_of(path);
  std::vector<SourcedCrl> out;
  std::lock_guard lock(state_->mutex);
  for (const auto& want : wants) {
    const auto it = state_->crls.find(want.url);
    if (it != state_->crls.end() && it->second->crl)
      out.push_back({copy(it->second->crl), want.url});
  }
  return out;
}

std::uint64_t RevocationCache::generation() const {
  return state_->generation.load();
}

Result<OcspAnswer> RevocationCache::ocsp(X509* cert, X509* issuer, const TrustStore& trust) {
  std::string fingerprints(2 * SHA_DIGEST_LENGTH, '\0');
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha1(), reinterpret_cast<unsigned char*>(fingerprints.data()), &n) !=
          1 ||
      X509_digest(issuer, EVP_sha1(),
                  reinterpret_cast<unsigned char*>(fingerprints.data()) + SHA_DIGEST_LENGTH,
                  &n) != 1)
    return make_error(Errc::internal, "cannot take the fingerprint of a certificate");
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  auto id = s.cert_ids.find(fingerprints);
  if (id == s.cert_ids.end()) {
    const auto key = cert_id_hex(cert, issuer);
    if (!key) return make_error(Errc::internal, "cannot make the OCSP CertID of a certificate");
    if (s.cert_ids.size() >= 2 * s.settings.max_ocsp_answers) s.cert_ids.clear();
    id = s.cert_ids.emplace(fingerprints, *key).first;
  }
  const auto e = s.answer_entry(id->second);
  e->last_used = s.now();
  if (!e->cert) e->cert = copy(cert);  // for refresh(); the same certificate every time
  if (!e->issuer) e->issuer = copy(issuer);
  for (;;) {
    if (e->asking && e->judged && s.current(*e, s.now())) {
      // A renewal under way (refresh()): the answer held still serves.
      ++s.counters.ocsp_hits;
      OcspAnswer answer = *e->answer;
      answer.cached = true;
      return answer;
    }
    if (e->asking) {  // someone else's ask: use its answer, or its error
      const auto attempt = e->attempts;
      s.done.wait(lock, [&] { return !e->asking; });
      if (e->attempts != attempt && !s.current(*e, s.now()))
        return make_error(Errc::io, e->error.empty() ? "no OCSP answer" : e->error);
      continue;
    }
    if (!s.current(*e, s.now())) break;
    if (!e->judged) {
      s.judge_kept(lock, e, trust);
      continue;
    }
    ++s.counters.ocsp_hits;
    OcspAnswer answer = *e->answer;
    answer.cached = true;
    return answer;
  }
  ++s.counters.ocsp_misses;
  // A responder that failed for this certificate a moment ago is not asked
  // again before retry_after_failure: a dead responder must not hold every
  // verification for its timeout.
  if (e->failed_at && s.now() - *e->failed_at < s.settings.retry_after_failure) {
    const auto ago =
        std::chrono::duration_cast<std::chrono::seconds>(s.now() - *e->failed_at).count();
    return make_error(
        Errc::io, e->error + " (" + std::to_string(ago) + " s ago; not asked again before " +
                      std::to_string(s.settings.retry_after_failure.count()) + " s have passed)");
  }
  return s.ask(lock, e, trust);
}

void RevocationCache::refresh(const TrustStore& trust) {
  State& s = *state_;
  std::unique_lock lock(s.mutex);
  const TimePoint now = s.now();
  std::vector<std::shared_ptr<CrlEntry>> crls;
  std::vector<std::string> unused;
  for (const auto& [url, e] : s.crls) {
    if (e->fetching) continue;
    const auto idle = now - e->last_used;
    if (!e->crl) {
      // Never fetched successfully: retried while verifications still name
      // it, forgotten an hour after the last one did.
      if (idle > kForgetNeverHeldAfter) {
        unused.push_back(url);
      } else if (e->issuer && !s.resting(*e, now)) {
        crls.push_back(e);
      }
    } else if (idle > s.settings.forget_unused) {
      // Not asked for lately (a cached path does not ask): kept while it is
      // current, not renewed, forgotten once it lapses.
      if (!s.fresh(*e, now)) unused.push_back(url);
    } else if (e->issuer && s.renewal_due(*e, now) && !s.resting(*e, now)) {
      crls.push_back(e);
    }
  }
  for (const auto& url : unused) s.forget_crl(url);
  std::vector<std::shared_ptr<OcspEntry>> answers;
  unused.clear();
  for (const auto& [key, e] : s.answers) {
    if (e->asking) continue;
    if (now - e->last_used > s.settings.forget_unused) {
      unused.push_back(key);
    } else if (e->answer && e->cert && s.renewal_due(*e, now) && !s.resting(*e, now)) {
      answers.push_back(e);
    }
  }
  for (const auto& key : unused) s.forget_answer(key);
  // Each under the lock again: an entry dropped or being renewed meanwhile is left alone.
  for (const auto& e : crls) {
    const auto it = s.crls.find(e->url);
    if (it != s.crls.end() && it->second == e && !e->fetching) s.fetch(lock, e);
  }
  for (const auto& e : answers) {
    const auto it = s.answers.find(e->key);
    if (it != s.answers.end() && it->second == e && !e->asking) (void)s.ask(lock, e, trust);
  }
}

std::vector<RevocationProblem> RevocationCache::health() const {
  const State& s = *state_;
  std::lock_guard lock(s.mutex);
  const TimePoint now = s.now();
  std::vector<RevocationProblem> out;
  for (const auto& [url, e] : s.crls) {
    const bool stale = !e->crl || !s.fresh(*e, now);
    if (!e->error.empty()) {
      out.push_back({"crl", url, e->error, stale, true});
    } else if (e->crl && stale) {
      out.push_back({"crl", url,
                     "stale since " + format_rfc3339(e->next_update.value_or(
                                          e->fetched_at + kCrlWithoutNextUpdateLifetime)),
                     true, false});
    }
  }
  for (const auto& [key, e] : s.answers) {
    const bool stale = !s.current(*e, now);
    if (!e->error.empty()) {
      out.push_back({"ocsp", e->url, e->error, stale, true});
    } else if (e->answer && stale) {
      out.push_back({"ocsp", e->url,
                     "stale since " + format_rfc3339(e->next_update.value_or(
                                          e->fetched_at + s.settings.ocsp_default_lifetime)),
                     true, false});
    }
  }
  return out;
}

RevocationCacheStats RevocationCache::stats() const {
  const State& s = *state_;
  std::lock_guard lock(s.mutex);
  RevocationCacheStats out = s.counters;
  out.crls = static_cast<std::size_t>(std::count_if(
      s.crls.begin(), s.crls.end(), [](const auto& e) { return e.second->crl != nullptr; }));
  out.ocsp_answers =
      static_cast<std::size_t>(std::count_if(s.answers.begin(), s.answers.end(), [](const auto& e) {
        return e.second->answer.has_value();
      }));
  return out;
}

std::vector<std::string> RevocationCache::warnings() const {
  std::lock_guard lock(state_->warnings_mutex);
  return state_->warnings;
}

}  // namespace edocgw::crypto
