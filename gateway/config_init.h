// gateway/config_init.h: the starting gateway.xml that `edocgw config init` writes.
//
// A pure function: it renders text and lists what the administrator must
// still provide; it reads and writes no file (the CLI writes the result).
// The rendered file is valid for config/gateway_config.h as it stands and
// passes `edocgw config check` once every NeededFile exists. It enables
// nothing that needs a file or a secret it does not list: no API token and
// no exchange client is ever baked in, since the same output may ship as a
// package's sample on every machine. Thread-safe.
#pragma once

#include <string>
#include <vector>

#include "util/result.h"

namespace edocgw::gateway {

struct InitOptions {
  std::string organ_id;          // the agency code (edxml), validated
  std::string name;              // the organisation's name, any UTF-8, XML-escaped on output
  bool hub = false;              // also serve the exchange API (a province's hub)
  std::string data_dir = "var";  // written as data-dir=; relative = relative to the config file
  // Optional: the lower-case hex SHA-256 of an API token the administrator
  // made (printf %s "$TOKEN" | sha256sum). When given, <api> is written
  // switched on with one client holding it; when empty, <api> is written as
  // a commented example, because the loader refuses an <api> without a
  // client and a token in a template would be the same on every machine.
  std::string api_token_sha256;
};

struct NeededFile {
  std::string path;  // as written in the config (relative to the config's folder, or absolute)
  std::string what;  // one sentence: what must be there and how to make it
};

struct InitResult {
  std::string xml;                 // the whole commented gateway.xml, UTF-8, ends with "\n"
  std::vector<NeededFile> needed;  // every file the config names that config check will require
  std::vector<std::string>
      next_steps;  // short sentences printed after the list (e.g. how to make an API token)
};

// Errors: Errc::usage for a bad organ id (say why, with an example of a
// valid code) or an empty name; also for an empty data_dir, a name or
// data_dir XML cannot carry, or an api_token_sha256 that is not 64
// lower-case hex digits.
Result<InitResult> render_initial_config(const InitOptions& options);

}  // namespace edocgw::gateway
