#include "gateway/version.h"

#include <curl/curl.h>
#include <libpq-fe.h>
#include <libxml/parser.h>
#include <link.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <xmlsec/version.h>

#include <boost/version.hpp>
#include <climits>
#include <cstdlib>
#include <pugixml.hpp>
#include <string_view>

#include "pdf/signed_pdf.h"

namespace edocgw::gateway {
namespace {

// The file of the loaded shared object whose name starts with `soname`
// ("libxmlsec1.so."), symbolic links resolved: the file names the exact
// version where the library has no call that tells it.
std::string loaded_file(std::string_view soname) {
  struct Search {
    std::string_view soname;
    std::string found;
  } search{soname, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) -> int {
        auto* s = static_cast<Search*>(data);
        const std::string_view path = info->dlpi_name ? info->dlpi_name : "";
        const auto slash = path.rfind('/');
        const std::string_view base =
            slash == std::string_view::npos ? path : path.substr(slash + 1);
        if (base.rfind(s->soname, 0) != 0) return 0;
        char real[PATH_MAX];
        const std::string p(path);
        s->found = ::realpath(p.c_str(), real) ? real : p;
        return 1;
      },
      &search);
  return search.found;
}

// A library with no call that tells its version (xmlsec1 1.2, pugixml):
// the loaded file names it ("libxmlsec1.so.1.2.37" -> "1.2.37"); linked
// statically, only the headers' version is known.
LibraryVersion from_file_name(const std::string& name, std::string_view soname,
                              const std::string& headers) {
  const std::string file = loaded_file(soname);
  const auto slash = file.rfind('/');
  const std::string base = file.substr(slash == std::string::npos ? 0 : slash + 1);
  if (base.rfind(soname, 0) == 0 && base.size() > soname.size())
    return {name, base.substr(soname.size()), file};
  return {name, headers, file, false};
}

// 21004 -> "2.10.4" (libxml2's xmlParserVersion), 150018 -> "15.18" (libpq).
std::string dotted(long n, bool three) {
  if (three)
    return std::to_string(n / 10000) + "." + std::to_string(n / 100 % 100) + "." +
           std::to_string(n % 100);
  return std::to_string(n / 10000) + "." + std::to_string(n % 10000);
}

}  // namespace

std::vector<LibraryVersion> library_versions() {
  std::vector<LibraryVersion> out;
  out.push_back({"OpenSSL", OpenSSL_version(OPENSSL_VERSION_STRING), loaded_file("libcrypto.so.")});
  out.push_back(from_file_name("xmlsec1", "libxmlsec1.so.", XMLSEC_VERSION));
  {
    const char* v = xmlParserVersion;  // the loaded library's, e.g. "20914"
    out.push_back({"libxml2", v ? dotted(std::strtol(v, nullptr, 10), true) : "unknown",
                   loaded_file("libxml2.so.")});
  }
  out.push_back({"SQLite", sqlite3_libversion(), loaded_file("libsqlite3.so.")});
  out.push_back({"libpq", dotted(PQlibVersion(), false), loaded_file("libpq.so.")});
  out.push_back({"qpdf", pdf::qpdf_version(), loaded_file("libqpdf.so.")});
  out.push_back(
      {"libcurl", curl_version_info(CURLVERSION_NOW)->version, loaded_file("libcurl.so.")});
  out.push_back(from_file_name(
      "pugixml", "libpugixml.so.",
      std::to_string(PUGIXML_VERSION / 1000) + "." + std::to_string(PUGIXML_VERSION % 1000 / 10)));
  out.push_back({"Boost",
                 std::to_string(BOOST_VERSION / 100000) + "." +
                     std::to_string(BOOST_VERSION / 100 % 1000) + "." +
                     std::to_string(BOOST_VERSION % 100),
                 "", false});
  return out;
}

std::string version_text() {
  std::string out =
      std::string("edocgw ") + kVersion + " (commit " + kCommit + ", " + kCommitDate + ")\n";
  for (const auto& lib : library_versions()) {
    std::string line = "  " + lib.name;
    line.resize(12, ' ');
    line += lib.version;
    if (!lib.runtime)
      line += " (built with)";
    else if (!lib.file.empty())
      line += " (" + lib.file + ")";
    out += line + "\n";
  }
  return out;
}

}  // namespace edocgw::gateway
