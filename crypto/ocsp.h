// crypto/ocsp.h: revocation status of one certificate by OCSP (RFC 6960).
//
// check_ocsp() asks the responder named by `url`, or else by the
// certificate's authorityInfoAccess, with a nonce; it accepts the answer
// only when the response is signed by the issuing CA or by a responder the
// CA delegated (extendedKeyUsage OCSPSigning), answers for this certificate,
// echoes the nonce (when the responder echoes any) and is current (thisUpdate
// .. nextUpdate against the clock, 5 minutes of skew). ask_ocsp() is the
// same with the clock and the skew given; judge_ocsp_response() judges a
// response already at hand (one a cache kept) the same way, but for the
// nonce. OCSP speaks of the present only: verification "as of" a past time
// uses the evidence logged then. The response bytes
// come back as evidence for the signature log. The HTTP exchange is a function so that crypto/
// keeps no network code of its own; ocsp_http_post() is the libcurl one (RFC 6960 A.1, POST of
// application/ocsp-request).
//
// Stateless; safe from many threads.
#pragma once

#include <chrono>
#include <functional>
#include <string>

#include <openssl/x509.h>

#include "crypto/trust_store.h"
#include "util/result.h"
#include "util/time.h"

namespace edocgw::crypto {

using OcspTransport = std::function<Result<std::string>(
    const std::string& url, const std::string& request_der, std::chrono::milliseconds timeout)>;

Result<std::string> ocsp_http_post(const std::string& url, const std::string& request_der,
                                   std::chrono::milliseconds timeout);

struct OcspSettings {
  std::string url;  // overrides the certificate's authorityInfoAccess; "" uses it
  std::chrono::milliseconds timeout{5000};
  OcspTransport transport = ocsp_http_post;
};

enum class OcspStatus { good, revoked, unknown };

struct OcspAnswer {
  OcspStatus status = OcspStatus::unknown;
  std::string url;        // the responder asked
  std::string responder;  // subject of the certificate that signed the response
  std::string this_update, next_update, revoked_at, reason;  // RFC 3339; reason as in RFC 5280
  std::string response_der;
  bool cached = false;  // from RevocationCache (crypto/revocation_cache.h), not asked now
};

// The OCSP URL in the certificate's authorityInfoAccess, or "".
std::string ocsp_url_of(X509* cert);

// Asks about `cert` issued by `issuer` now. An error means no usable answer (unreachable, refused,
// badly signed, stale): the caller decides what "unknown" means under its revocation policy.
Result<OcspAnswer> check_ocsp(X509* cert, X509* issuer, const TrustStore& trust,
                              const OcspSettings& settings);

// The allowance for clocks that disagree (RFC 6960 section 4.2.2.1): an answer
// is current at `now` when its thisUpdate is at most `skew` after it and its
// nextUpdate, if any, at most `skew` before it.
inline constexpr std::chrono::seconds kOcspClockSkew{300};

// check_ocsp() judging freshness against `now` with `skew`.
Result<OcspAnswer> ask_ocsp(X509* cert, X509* issuer, const TrustStore& trust,
                            const OcspSettings& settings, TimePoint now, std::chrono::seconds skew);

// Judges `response_der` (an OCSP response kept from an earlier ask of `url`)
// for `cert` issued by `issuer` as ask_ocsp() judges a fresh one: signer,
// CertID, times against `now` with `skew`; there is no nonce to check.
Result<OcspAnswer> judge_ocsp_response(std::string response_der, X509* cert, X509* issuer,
                                       const TrustStore& trust, TimePoint now,
                                       std::chrono::seconds skew, const std::string& url);

}  // namespace edocgw::crypto
