#include "crypto/xmlsec_init.h"

#include <xmlsec/crypto.h>
#include <xmlsec/errors.h>
#include <xmlsec/xmlsec.h>

#include <cstdlib>
#include <mutex>
#include <stdexcept>

#include "edxml/xml.h"

namespace edocgw::crypto {
namespace {

thread_local std::string t_last_error;

// xmlsec reports every failure along the call stack; the innermost one
// (the first reported) usually names the real cause, so keep the first.
void capture_error(const char*, int, const char* func, const char*, const char* subject, int reason,
                   const char* msg) {
  if (!t_last_error.empty()) return;
  std::string text;
  for (xmlSecSize i = 0; i < XMLSEC_ERRORS_MAX_NUMBER; ++i) {
    if (xmlSecErrorsGetMsg(i) == nullptr) break;
    if (xmlSecErrorsGetCode(i) == reason) {
      text = xmlSecErrorsGetMsg(i);
      break;
    }
  }
  if (subject != nullptr && *subject != '\0')
    text += std::string(text.empty() ? "" : ": ") + subject;
  if (msg != nullptr && *msg != '\0') text += std::string(text.empty() ? "" : ": ") + msg;
  if (text.empty() && func != nullptr) text = func;
  t_last_error = text;
}

}  // namespace

std::string last_xmlsec_error() {
  std::string out;
  out.swap(t_last_error);
  return out;
}

void init_xmlsec() {
  static std::once_flag once;
  std::call_once(once, [] {
    xml::init_xml();
    if (xmlSecInit() < 0 || xmlSecCheckVersion() != 1 || xmlSecCryptoAppInit(nullptr) < 0 ||
        xmlSecCryptoInit() < 0) {
      throw std::runtime_error("cannot initialise xmlsec1 with its OpenSSL backend");
    }
    xmlSecErrorsSetCallback(capture_error);
  });
}

}  // namespace edocgw::crypto
