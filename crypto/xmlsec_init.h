// crypto/xmlsec_init.h: one-time, process-wide initialisation of libxml2 and
// xmlsec1 with its OpenSSL backend, and the owning pointers for xmlsec types.
//
// init_xmlsec() is idempotent and thread-safe (call_once). xmlsec keeps the
// last error text per thread, read with last_xmlsec_error().
#pragma once

#include <xmlsec/keys.h>
#include <xmlsec/xmldsig.h>

#include <memory>
#include <string>

namespace edocgw::crypto {

void init_xmlsec();

// The most recent xmlsec error reported on this thread ("" when none), then clears it.
std::string last_xmlsec_error();

struct XmlSecKeyDeleter {
  void operator()(xmlSecKey* k) const noexcept { xmlSecKeyDestroy(k); }
};
using XmlSecKeyPtr = std::unique_ptr<xmlSecKey, XmlSecKeyDeleter>;

struct DSigCtxDeleter {
  void operator()(xmlSecDSigCtx* c) const noexcept { xmlSecDSigCtxDestroy(c); }
};
using DSigCtxPtr = std::unique_ptr<xmlSecDSigCtx, DSigCtxDeleter>;

}  // namespace edocgw::crypto
