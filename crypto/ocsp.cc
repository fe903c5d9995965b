#include "crypto/ocsp.h"

#include <curl/curl.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>

#include <memory>
#include <optional>

#include "crypto/certificate.h"
#include "crypto/ossl.h"

namespace edocgw::crypto {
namespace {

using OcspRequestPtr = std::unique_ptr<OCSP_REQUEST, OsslDeleter<OCSP_REQUEST, OCSP_REQUEST_free>>;
using OcspResponsePtr =
    std::unique_ptr<OCSP_RESPONSE, OsslDeleter<OCSP_RESPONSE, OCSP_RESPONSE_free>>;
using OcspBasicPtr =
    std::unique_ptr<OCSP_BASICRESP, OsslDeleter<OCSP_BASICRESP, OCSP_BASICRESP_free>>;
using OcspCertIdPtr = std::unique_ptr<OCSP_CERTID, OsslDeleter<OCSP_CERTID, OCSP_CERTID_free>>;

std::string time_text(const ASN1_GENERALIZEDTIME* t) {
  if (t == nullptr) return {};
  struct tm tm {};
  ASN1_TIME_to_tm(t, &tm);
  return format_rfc3339(TimePoint(std::chrono::seconds(timegm(&tm))));
}

size_t collect(char* data, size_t size, size_t n, void* out) {
  auto* body = static_cast<std::string*>(out);
  if (body->size() + size * n > (1u << 20)) return 0;  // an OCSP answer is small
  body->append(data, size * n);
  return size * n;
}

}  // namespace

Result<std::string> ocsp_http_post(const std::string& url, const std::string& request_der,
                                   std::chrono::milliseconds timeout) {
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) return make_error(Errc::internal, "curl_easy_init failed");
  std::string body;
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/ocsp-request");
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, request_der.data());
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(request_der.size()));
  curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, collect);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl.get());
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    return make_error(Errc::io,
                      "the OCSP responder " + url + " did not answer: " + curl_easy_strerror(rc));
  }
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    return make_error(Errc::io,
                      "the OCSP responder " + url + " answered HTTP " + std::to_string(status));
  }
  return body;
}

std::string ocsp_url_of(X509* cert) {
  STACK_OF(OPENSSL_STRING)* urls = X509_get1_ocsp(cert);
  std::string url = sk_OPENSSL_STRING_num(urls) > 0 ? sk_OPENSSL_STRING_value(urls, 0) : "";
  X509_email_free(urls);
  return url;
}

namespace {

std::optional<TimePoint> time_of(const ASN1_GENERALIZEDTIME* t) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return TimePoint(std::chrono::seconds(timegm(&tm)));
}

std::string seconds_text(std::chrono::seconds s) {
  return std::to_string(s.count()) + " s";
}

// Freshness against `now` with `skew` (OCSP_check_validity's rule, with a
// clock of our own instead of the system's).
Status check_times(const ASN1_GENERALIZEDTIME* this_update, const ASN1_GENERALIZEDTIME* next_update,
                   TimePoint now, std::chrono::seconds skew, const std::string& url) {
  const auto this_t = time_of(this_update);
  const auto next_t = time_of(next_update);
  const std::string times = "(thisUpdate " + time_text(this_update) + ", nextUpdate " +
                            (next_update ? time_text(next_update) : "none") + ", clock " +
                            format_rfc3339(now) + ", allowed skew " + seconds_text(skew) + ")";
  const std::string what = "the OCSP response from " + url + " is not current: ";
  if (!this_t || (next_update != nullptr && !next_t))
    return make_error(Errc::invalid, what + "its times cannot be read " + times);
  if (*this_t > now + skew)
    return make_error(Errc::invalid, what + "it was made after the clock's present " + times);
  if (next_t && *next_t < *this_t)
    return make_error(Errc::invalid, what + "its nextUpdate precedes its thisUpdate " + times);
  if (next_t && *next_t + skew < now)
    return make_error(Errc::invalid, what + "it expired " + times);
  return Status::success();
}

// The judgement shared by a fresh answer and a kept one. `request` is the
// request just sent (its nonce is checked) or null for a kept answer.
Result<OcspAnswer> judge(std::string body, OCSP_REQUEST* request, X509* cert, X509* issuer,
                         const TrustStore& trust, TimePoint now, std::chrono::seconds skew,
                         const std::string& url) {
  OcspAnswer answer;
  answer.url = url;
  const std::string who = "'" + describe(cert).subject + "'";
  const auto* p = reinterpret_cast<const unsigned char*>(body.data());
  OcspResponsePtr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(body.size())));
  if (!response) {
    ERR_clear_error();
    return make_error(Errc::invalid, "the OCSP responder " + url + " sent no OCSP response");
  }
  const int rstatus = OCSP_response_status(response.get());
  if (rstatus != OCSP_RESPONSE_STATUS_SUCCESSFUL) {
    return make_error(Errc::invalid, "the OCSP responder " + url +
                                         " refused: " + OCSP_response_status_str(rstatus));
  }
  OcspBasicPtr basic(OCSP_response_get1_basic(response.get()));
  if (!basic) return make_error(Errc::invalid, "the OCSP response has no basic response");
  if (request != nullptr && OCSP_check_nonce(request, basic.get()) == 0) {
    return make_error(Errc::invalid,
                      "the OCSP response does not echo our nonce (a replayed answer?)");
  }
  // The signer must chain to our anchors and be the CA or its delegate.
  X509StorePtr store(X509_STORE_new());
  for (const auto& a : trust.anchors()) X509_STORE_add_cert(store.get(), a.get());
  X509StackPtr certs(sk_X509_new_null());
  sk_X509_push(certs.get(), up_ref(issuer).release());
  if (OCSP_basic_verify(basic.get(), certs.get(), store.get(), 0) <= 0) {
    ERR_clear_error();
    return make_error(Errc::invalid, "the OCSP response from " + url +
                                         " is not signed by the CA or a responder it authorised");
  }
  X509* signer = nullptr;
  if (OCSP_resp_get0_signer(basic.get(), &signer, certs.get()) == 1 && signer != nullptr)
    answer.responder = describe(signer).subject;

  OcspCertIdPtr wanted(OCSP_cert_to_id(nullptr, cert, issuer));
  int status = 0, reason = -1;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
  if (OCSP_resp_find_status(basic.get(), wanted.get(), &status, &reason, &revoked_at, &this_update,
                            &next_update) != 1) {
    return make_error(Errc::invalid,
                      "the OCSP response from " + url + " does not answer for " + who);
  }
  if (auto current = check_times(this_update, next_update, now, skew, url); !current)
    return current.error();
  answer.this_update = time_text(this_update);
  answer.next_update = time_text(next_update);
  answer.status = status == V_OCSP_CERTSTATUS_GOOD      ? OcspStatus::good
                  : status == V_OCSP_CERTSTATUS_REVOKED ? OcspStatus::revoked
                                                        : OcspStatus::unknown;
  if (answer.status == OcspStatus::revoked) {
    answer.revoked_at = time_text(revoked_at);
    if (reason >= 0) answer.reason = OCSP_crl_reason_str(reason);
  }
  answer.response_der = std::move(body);
  return answer;
}

}  // namespace

Result<OcspAnswer> check_ocsp(X509* cert, X509* issuer, const TrustStore& trust,
                              const OcspSettings& settings) {
  return ask_ocsp(cert, issuer, trust, settings, now_seconds(), kOcspClockSkew);
}

Result<OcspAnswer> ask_ocsp(X509* cert, X509* issuer, const TrustStore& trust,
                            const OcspSettings& settings, TimePoint now,
                            std::chrono::seconds skew) {
  const std::string url = settings.url.empty() ? ocsp_url_of(cert) : settings.url;
  if (url.empty()) {
    return make_error(Errc::invalid, "certificate '" + describe(cert).subject +
                                         "' names no OCSP responder and no ocsp-url is configured");
  }
  OcspRequestPtr request(OCSP_REQUEST_new());
  OCSP_CERTID* id = OCSP_cert_to_id(nullptr, cert, issuer);
  if (!request || id == nullptr || OCSP_request_add0_id(request.get(), id) == nullptr) {
    OCSP_CERTID_free(id);
    return make_error(Errc::internal, "cannot build an OCSP request");
  }
  OCSP_request_add1_nonce(request.get(), nullptr, -1);
  unsigned char* der = nullptr;
  const int der_len = i2d_OCSP_REQUEST(request.get(), &der);
  if (der_len <= 0) return make_error(Errc::internal, "cannot encode the OCSP request");
  const std::string request_der(reinterpret_cast<char*>(der), static_cast<size_t>(der_len));
  OPENSSL_free(der);

  auto body = settings.transport(url, request_der, settings.timeout);
  if (!body) return body.error();
  return judge(std::move(*body), request.get(), cert, issuer, trust, now, skew, url);
}

Result<OcspAnswer> judge_ocsp_response(std::string response_der, X509* cert, X509* issuer,
                                       const TrustStore& trust, TimePoint now,
                                       std::chrono::seconds skew, const std::string& url) {
  return judge(std::move(response_der), nullptr, cert, issuer, trust, now, skew, url);
}

}  // namespace edocgw::crypto
