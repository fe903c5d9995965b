#include "adapters/vdxp/vdxp_adapter.h"

#include <curl/curl.h>

#include <mutex>
#include <set>

#include <nlohmann/json.hpp>

#include "util/bytes.h"
#include "util/time.h"

namespace edocgw::adapters::vdxp {
namespace {

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Sink {
  std::string body;
  std::size_t max_bytes = 0;
  bool too_large = false;
};

// Refuses an answer beyond its cap while it arrives, whatever Content-Length said.
size_t append_body(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<Sink*>(user);
  if (size * count > sink->max_bytes - sink->body.size()) {
    sink->too_large = true;
    return 0;  // curl stops with CURLE_WRITE_ERROR
  }
  sink->body.append(data, size * count);
  return size * count;
}

struct CurlDeleter {
  void operator()(CURL* c) const noexcept { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* l) const noexcept { curl_slist_free_all(l); }
};

// Reads an answer as a stream of events, keeping only what the client
// uses (see VdxpAdapter::Answer): a hostile answer of millions of small
// objects costs no more memory than its bytes.
class AnswerReader final : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit AnswerReader(VdxpAdapter::Answer& out) : out_(out) {}
  std::string error;

  bool null() override { return scalar(""); }
  bool boolean(bool v) override { return scalar(v ? "true" : "false"); }
  bool number_integer(number_integer_t v) override { return scalar(std::to_string(v)); }
  bool number_unsigned(number_unsigned_t v) override { return scalar(std::to_string(v)); }
  bool number_float(number_float_t, const string_t& raw) override { return scalar(raw); }
  bool binary(binary_t&) override { return scalar(""); }
  bool string(string_t& v) override { return scalar(std::move(v)); }
  bool start_object(std::size_t) override {
    if (depth_ == 0 && !first_) return true;
    if (depth_ == 0) first_ = false;
    ++depth_;
    if (depth_ == 3 && in_data_) {
      if (++out_.items_seen <= VdxpAdapter::kMaxListItems) {
        out_.items.emplace_back();
        in_item_ = true;
      }
    }
    key_.clear();
    return true;
  }
  bool end_object() override {
    if (depth_ == 3) in_item_ = false;
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) {
      error = "not a JSON object";
      return false;
    }
    ++depth_;
    if (depth_ == 2 && key_ == "data") in_data_ = true;
    return true;
  }
  bool end_array() override {
    if (depth_ == 2) in_data_ = false;
    --depth_;
    return true;
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& e) override {
    error = std::string("not JSON: ") + e.what();
    return false;
  }

 private:
  bool scalar(std::string value) {
    if (depth_ == 0) {
      error = "not a JSON object";
      return false;
    }
    static const std::set<std::string> kTop = {"status", "ErrorCode", "ErrorDesc", "DocId", "data"};
    static const std::set<std::string> kItem = {"docId", "from"};
    if (depth_ == 1 && kTop.count(key_)) {
      out_.fields[key_] = std::move(value);
    } else if (depth_ == 3 && in_item_ && kItem.count(key_)) {
      out_.items.back()[key_] = std::move(value);
    }
    return true;
  }

  VdxpAdapter::Answer& out_;
  int depth_ = 0;
  bool first_ = true, in_data_ = false, in_item_ = false;
  std::string key_;
};

}  // namespace

VdxpAdapter::VdxpAdapter(std::string name, VdxpSettings settings)
    : name_(std::move(name)), settings_(std::move(settings)) {
  init_curl_once();
}

VdxpAdapter::~VdxpAdapter() {
  for (void* h : idle_handles_) curl_easy_cleanup(h);
}

void* VdxpAdapter::take_handle() {
  {
    std::lock_guard lock(handles_mutex_);
    if (!idle_handles_.empty()) {
      void* h = idle_handles_.back();
      idle_handles_.pop_back();
      curl_easy_reset(h);  // options cleared; open connections and TLS sessions kept
      return h;
    }
  }
  return curl_easy_init();
}

void VdxpAdapter::give_back(void* handle) {
  {
    std::lock_guard lock(handles_mutex_);
    if (idle_handles_.size() < kMaxIdleHandles) {
      idle_handles_.push_back(handle);
      return;
    }
  }
  curl_easy_cleanup(handle);
}

const std::string& VdxpAdapter::type() const {
  static const std::string kType = "vdxp";
  return kType;
}

Result<VdxpAdapter::Response> VdxpAdapter::post(const std::string& path,
                                                const Parameters& parameters,
                                                const std::string& content_type,
                                                const std::string& body,
                                                std::size_t max_answer_bytes) {
  // Given back for the next call only when this one got an answer: a
  // handle whose call failed is dropped with its connection.
  std::unique_ptr<CURL, CurlDeleter> curl(take_handle());
  if (!curl) return make_error(Errc::internal, "cannot create a curl handle");
  // A signer per call: the timestamp is the call's (the SDK fixes it per
  // object; a server can only check its format either way).
  const RequestSigner signer(settings_.system_id, settings_.secret);
  curl_slist* raw = nullptr;
  for (const auto& [name, value] : signer.headers(parameters, content_type)) {
    raw = curl_slist_append(raw, (name + ": " + value).c_str());
  }
  raw = curl_slist_append(raw, "Expect:");  // as the SDK's sendEdoc: no 100-continue round trip
  std::unique_ptr<curl_slist, SlistDeleter> headers(raw);

  Sink sink;
  sink.max_bytes = max_answer_bytes;
  const std::string url = settings_.url + path;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(settings_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(settings_.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  if (!settings_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, settings_.ca_file.c_str());
  if (!settings_.client_cert.empty())
    curl_easy_setopt(c, CURLOPT_SSLCERT, settings_.client_cert.c_str());
  if (!settings_.client_key.empty())
    curl_easy_setopt(c, CURLOPT_SSLKEY, settings_.client_key.c_str());

  const CURLcode rc = curl_easy_perform(c);
  std::lock_guard lock(health_mutex_);
  if (sink.too_large) {
    return make_error(Errc::io, "the exchange's answer to " + path + " is larger than " +
                                    std::to_string(max_answer_bytes) + " bytes");
  }
  if (rc != CURLE_OK) {
    last_transport_error_ = "cannot reach the exchange at " + url + ": " + curl_easy_strerror(rc);
    return make_error(Errc::io, last_transport_error_);
  }
  last_transport_error_.clear();
  Response response;
  response.body = std::move(sink.body);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.http_status);
  give_back(curl.release());
  return response;
}

Result<VdxpAdapter::Answer> VdxpAdapter::call(const std::string& path, const Parameters& parameters,
                                              const std::string& body,
                                              const std::string& content_type,
                                              std::size_t max_answer_bytes) {
  auto response = post(path, parameters, content_type, body, max_answer_bytes);
  if (!response) return response.error();
  const long http = response->http_status;
  Answer j;
  AnswerReader reader(j);
  bool parsed = false;
  try {
    parsed = nlohmann::json::sax_parse(response->body, &reader);
  } catch (const std::exception&) {
    parsed = false;
  }
  response->body = std::string();  // keep one copy of a package, not two
  if (!parsed) {
    return make_error(Errc::io, "the exchange answered " + path + " (HTTP " + std::to_string(http) +
                                    ") without a JSON object");
  }
  // By status/ErrorCode, whatever the HTTP status (the SDK's way).
  if (j.get("status") != "FAIL" && j.get("ErrorCode") == "0") return j;
  const std::string why = j.get("ErrorDesc");
  if (http >= 500 || http == 429 || http == 0) {
    return make_error(Errc::io, "the exchange answered HTTP " + std::to_string(http) + ": " + why);
  }
  if (http == 401 || http == 403) {
    // Misconfiguration on one side; retried, so a fixed config resumes the queue.
    return make_error(Errc::io, "the exchange refused our credentials (HTTP " +
                                    std::to_string(http) + "): " + why);
  }
  return make_error(Errc::invalid, "the exchange refused it: " + why);
}

Result<DeliveryReceipt> VdxpAdapter::deliver(const OutgoingPackage& package) {
  // As the SDK: the file's bytes then CRLF; hash-file covers the file alone.
  auto answer = call("/sendEdoc",
                     {{"servicetype", "eDoc"},
                      {"messagetype", package.message_type == "status" ? "status" : "edoc"},
                      {"hash-file", sdk_hash_file(package.bytes)},
                      {"from", package.from_organ_id}},
                     package.bytes + "\r\n", "application/octet-stream");
  if (!answer) return answer.error();
  return DeliveryReceipt{answer->get("DocId"), "accepted by the exchange"};
}

Status VdxpAdapter::poll_type(const std::string& message_type, std::size_t room,
                              const IncomingHandler& on_each, std::size_t& handed) {
  auto list =
      call("/getReceivedEdocList", {{"servicetype", "eDoc"}, {"messagetype", message_type}});
  if (!list) return list.error();
  for (const auto& item : list->items) {
    if (room == 0) break;
    auto doc = item.find("docId");
    if (doc == item.end() || doc->second.empty()) continue;
    const std::string& doc_id = doc->second;
    auto got = call("/getEdoc", {{"docId", doc_id}}, "{}", "application/json", kMaxAnswerBytes);
    if (!got) return got.error();
    auto bytes = base64_decode(got->get("data"));
    if (!bytes)
      return make_error(Errc::io, "the exchange sent document " + doc_id + " in broken base64");
    got = Answer();  // keep one copy of the package, not two
    auto from = item.find("from");
    on_each({doc_id, from == item.end() ? std::string() : from->second, message_type,
             std::move(*bytes)});
    ++handed;
    --room;
  }
  return {};
}

Result<std::size_t> VdxpAdapter::poll(const IncomingHandler& on_each) {
  std::size_t handed = 0;
  if (auto st = poll_type("edoc", kMaxPackagesPerPoll, on_each, handed); !st) return st.error();
  if (auto st = poll_type("status", kMaxPackagesPerPoll - handed, on_each, handed); !st)
    return st.error();
  return handed;
}

Status VdxpAdapter::acknowledge(const std::string& remote_id, bool accepted) {
  auto answer =
      call("/updateStatus", {{"docId", remote_id}, {"status", accepted ? "done" : "fail"}}, "{}");
  if (!answer) return answer.error();
  return {};
}

Status VdxpAdapter::health() {
  std::lock_guard lock(health_mutex_);
  if (!last_transport_error_.empty()) return make_error(Errc::io, last_transport_error_);
  return {};
}

Result<std::unique_ptr<Adapter>> VdxpAdapterFactory::create(
    const config::AdapterConfig& config) const {
  static const std::set<std::string> kKnown = {"url",     "system-id",   "secret-file",
                                               "poll",    "timeout",     "connect-timeout",
                                               "ca-file", "client-cert", "client-key"};
  for (const auto& [key, value] : config.settings) {
    if (!kKnown.count(key))
      return make_error(Errc::invalid, "unknown setting '" + key + "' for a vdxp adapter");
  }
  auto get = [&](const char* key) {
    auto it = config.settings.find(key);
    return it == config.settings.end() ? std::string() : it->second;
  };
  auto path = [&](const std::string& value) {
    std::filesystem::path p(value);
    return value.empty() || p.is_absolute() ? value
                                            : (config.base_dir / p).lexically_normal().string();
  };
  VdxpSettings s;
  s.url = get("url");
  if (s.url.rfind("http://", 0) != 0 && s.url.rfind("https://", 0) != 0) {
    return make_error(Errc::invalid, "url=\"" + s.url + "\" must start with http:// or https://");
  }
  while (!s.url.empty() && s.url.back() == '/') s.url.pop_back();
  s.system_id = get("system-id");
  if (s.system_id.empty())
    return make_error(Errc::invalid, "a vdxp adapter needs system-id=\"...\"");
  if (get("secret-file").empty())
    return make_error(Errc::invalid, "a vdxp adapter needs secret-file=\"...\"");
  auto secret = read_file(path(get("secret-file")));
  if (!secret) return secret.error();
  const auto first = secret->find_first_not_of(" \t\r\n");
  const auto last = secret->find_last_not_of(" \t\r\n");
  if (first == std::string::npos)
    return make_error(Errc::invalid, "secret-file " + get("secret-file") + " is empty");
  s.secret = secret->substr(first, last - first + 1);
  for (auto [key, target] : {std::pair{"poll", &s.poll_interval}, std::pair{"timeout", &s.timeout},
                             std::pair{"connect-timeout", &s.connect_timeout}}) {
    if (get(key).empty()) continue;
    auto d = config::parse_duration(get(key));
    if (!d) return make_error(Errc::invalid, std::string(key) + ": " + d.error().message);
    *target = *d;
  }
  s.ca_file = path(get("ca-file"));
  s.client_cert = path(get("client-cert"));
  s.client_key = path(get("client-key"));
  return std::unique_ptr<Adapter>(std::make_unique<VdxpAdapter>(config.name, std::move(s)));
}

}  // namespace edocgw::adapters::vdxp
