#include "gateway/config_init.h"

#include <algorithm>

#include "edxml/agency_code.h"
#include "util/bytes.h"
#include "util/utf8.h"

namespace edocgw::gateway {

namespace {

// Where the files the config names go, relative to the config's folder: one
// folder for what a CA issues, another for shared secrets, so that each can
// get its own permissions.
constexpr const char* kIdentityCert = "certs/identity.pem";
constexpr const char* kIdentityKey = "certs/identity.key";
constexpr const char* kAnchors = "certs/anchors.pem";
constexpr const char* kProvinceSecret = "secrets/province.secret";
// RFC 6761 reserves .invalid: the placeholder can never reach anyone, and
// the vdxp adapter does not connect before the gateway runs.
constexpr const char* kPlaceholderUrl = "https://exchange.example.invalid";

const std::string kStrictForm =
    "four groups such as 000.00.12.H50: three digits, two digits, two digits, then a capital "
    "letter and two digits";

// An attribute value in double quotes. Tab, LF and CR become character
// references: written raw, XML attribute normalisation would read them back
// as spaces.
std::string escape(const std::string& text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      case '\t':
        out += "&#9;";
        break;
      case '\n':
        out += "&#10;";
        break;
      case '\r':
        out += "&#13;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

Status check_options(const InitOptions& o) {
  if (o.organ_id.empty()) {
    return make_error(Errc::usage,
                      "the organ id is missing: give the agency code (mã định danh) "
                      "of the organisation, " +
                          kStrictForm);
  }
  switch (edxml::classify_agency_code(o.organ_id)) {
    case edxml::AgencyCodeForm::strict:
      break;
    case edxml::AgencyCodeForm::lenient:
      return make_error(Errc::usage,
                        "'" + o.organ_id +
                            "' is not a strict agency code: a gateway accepts such codes from "
                            "others, but its own organ id must be " +
                            kStrictForm);
    case edxml::AgencyCodeForm::invalid:
      return make_error(Errc::usage, "'" + valid_utf8(o.organ_id) +
                                         "' is not an agency code: it must be " + kStrictForm);
  }
  if (std::all_of(o.name.begin(), o.name.end(),
                  [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; })) {
    return make_error(Errc::usage,
                      "the name is empty: give the organisation's name, such as "
                      "\"UBND huyện Hướng Hóa\"");
  }
  if (const std::string problem = xml_char_problem(o.name); !problem.empty()) {
    return make_error(Errc::usage, "the name cannot be written in XML: " + problem);
  }
  if (o.data_dir.empty()) {
    return make_error(Errc::usage, "the data folder is empty: give a folder such as \"var\"");
  }
  if (const std::string problem = xml_char_problem(o.data_dir); !problem.empty()) {
    return make_error(Errc::usage, "the data folder cannot be written in XML: " + problem);
  }
  const std::string& t = o.api_token_sha256;
  if (!t.empty() && (t.size() != 64 || !is_lower_hex(t))) {
    return make_error(Errc::usage,
                      "the API token's SHA-256 must be 64 lower-case hex digits, as "
                      "printf %s \"$TOKEN\" | sha256sum prints them");
  }
  return {};
}

// An attribute value inside an XML comment (an example to un-comment): a
// comment may not hold "--", so a hyphen after a hyphen is written as
// &#45;, which reads back as '-' once the example is un-commented.
std::string escape_in_comment(const std::string& text) {
  const std::string escaped = escape(text);
  std::string out;
  for (size_t i = 0; i < escaped.size(); ++i) {
    if (escaped[i] == '-' && i > 0 && escaped[i - 1] == '-')
      out += "&#45;";
    else
      out += escaped[i];
  }
  return out;
}

// The office inbox lives in the data folder, as in INTERFACE.md's example.
std::string inbox_path(const std::string& data_dir) {
  return data_dir.back() == '/' ? data_dir + "inbox" : data_dir + "/inbox";
}

// Note for every comment below: XML forbids two hyphens in a row inside a
// comment, so command-line options are never quoted there.

std::string header_part(const InitOptions& o) {
  return R"(<?xml version="1.0" encoding="UTF-8"?>
<!--
  gateway.xml: the configuration of one edocgw gateway, written by
  "edocgw config init" as a starting point. Check it after every change with
      edocgw config check gateway.xml
  The gateway checks it again when it starts and on every reload (kill -HUP;
  a bad file is refused and the old configuration keeps running).
  Relative paths are relative to the folder of this file. Unknown elements
  and attributes are errors, so that a typo never silently drops a setting.
  The whole reference: the README's "Configuring: gateway.xml".
-->
<!--
  organ-id: your agency code (mã định danh); every package this gateway signs
  is sent from it, and it must be the agency code (UID) in the identity's
  certificate. name: your organisation's name as it appears to others.
  data-dir: where the gateway keeps its store, its signature log and its
  revocation cache; back it up. Optional: expiry-warning="30d" (how early
  expiring certificates are warned of).
-->
<gateway organ-id=")" +
         escape(o.organ_id) + R"(" name=")" + escape(o.name) + R"(" data-dir=")" +
         escape(o.data_dir) + R"(">
)";
}

std::string identity_and_trust_part() {
  return std::string(R"(
  <!--
    identity: the certificate and private key every outgoing package is
    signed with (XMLDSig). The certificate file holds your certificate first,
    then the certificates of the CAs that issued it, so that receivers can
    build the path to their trust anchor (or keep those apart and add
    chain="certs/chain.pem"). An encrypted key takes pass="env:VARIABLE" or
    pass="file:PATH", never the passphrase itself; a PKCS#12 file may be
    given as the key.
  -->
  <identity cert=")") +
         kIdentityCert + R"(" key=")" + kIdentityKey + R"("/>

  <!--
    trust: how incoming packages are judged. anchors: the root CA
    certificates (PEM, one after another) whose signers you accept.

    Revocation: revocation="prefer" with crl-fetch="on" fetches the CRLs that
    the signers' certificates name, keeps them in the data folder, refuses
    every certificate known to be revoked, and accepts one whose status
    nobody could tell with a warning in its report and in /metrics. It is
    the default here because a gateway whose network cannot reach a CA's CRL
    server (a private network, an outage) would otherwise refuse all incoming
    documents from its first day. Once /metrics shows CRLs being fetched
    and /healthz no failing source, consider revocation="require": a status
    nobody can tell then refuses the package, which is safer but stops incoming
    traffic while a CA's server is down. Also possible: ocsp="on" (ask the
    CA's OCSP responder), crl="FILE" (CRLs you download yourself),
    policies="OID ..." (certificate policies the signer must hold).

    Acceptance policy: strict by default (unsigned packages, SHA-1 and
    inclusive canonicalisation are refused, and a signer is bound to its
    sender by the agency code in its certificate). Much real traffic is
    unsigned or SHA-1-signed; relax it per sender with rules inside <trust>,
    such as
      <accept from="000.00.*.H45" unsigned="accept" sha1="warn"/>
    (the README's "The acceptance policy").
  -->
  <trust anchors=")" +
         kAnchors + R"(" revocation="prefer" crl-fetch="on"/>
)";
}

// <api>: live when the administrator gave a token's hash, else an example
// inside a comment (the loader refuses an <api> without a client).
std::string api_part(const InitOptions& o) {
  std::string out = R"(
  <!--
    api: the local API for your office systems (submit documents, read the
    inbox, send statuses). Every call but /healthz needs the header
    "Authorization: Bearer TOKEN"; this file keeps only the token's SHA-256.
    Make a token and its hash with
      TOKEN=$(openssl rand -hex 32)
      printf %s "$TOKEN" | sha256sum
    give the token to the office system and put the 64 hex digits in
    token-sha256 (one <client> per system). Keep listen on 127.0.0.1 unless
    the office system runs on another machine; then serve HTTPS with
    tls-cert="..." tls-key="...". Optional limits: max-body="64MB",
    max-connections="512".
)";
  if (o.api_token_sha256.empty()) {
    return out + R"(    To switch it on, remove the comment marks around it:
  <api listen="127.0.0.1:8080">
    <client name="office" token-sha256="THE-64-HEX-DIGITS-OF-SHA256-OF-THE-TOKEN"/>
  </api>
  -->
)";
  }
  return out + R"(  -->
  <api listen="127.0.0.1:8080">
    <client name="office" token-sha256=")" +
         o.api_token_sha256 + R"("/>
  </api>
)";
}

std::string district_part(const InitOptions& o) {
  return std::string(R"(
  <!-- adapters: how documents leave this gateway and how they arrive. -->
  <adapters>
    <!--
      province: the province's exchange (its hub), spoken to in VDXP; it
      carries your documents out and brings others' in. Replace url with the
      address the province gives you (https is checked against the system's
      CAs, or ca-file="..."). system-id is the name the province registered
      this gateway under, and the secret file holds the shared secret it gave
      you, as text. Optional: poll="5s", timeout="30s", and
      client-cert="..." client-key="..." when the hub asks for a client
      certificate.
    -->
    <adapter name="province" type="vdxp" url=")") +
         kPlaceholderUrl + R"("
             system-id=")" +
         escape(o.organ_id) + R"(" secret-file=")" + kProvinceSecret + R"("/>
    <!--
      office: verified incoming documents are written into this folder as
      ID.xml, with their verification report ID.report.json written first,
      for your office system to take. Optional: pickup="FOLDER" also submits
      every NAME.xml dropped into FOLDER, as the API does.
    -->
    <adapter name="office" type="directory" path=")" +
         escape(inbox_path(o.data_dir)) + R"("/>
  </adapters>

  <!--
    routes: where outgoing documents go. Each recipient's agency code is
    matched against the rules in order and the first match wins; * stands
    for one group (000.00.*.H50), * alone for everyone. "edocgw routes
    explain" shows which rule a code meets. inbound: where verified incoming
    documents go.
  -->
  <routes>
    <route to="*" via="province"/>
    <inbound via="office"/>
  </routes>
)";
}

std::string hub_part(const InitOptions& o) {
  return R"(
  <!--
    exchange: this gateway is the province's hub. It serves the VDXP
    exchange API: district gateways and agencies' own software (VNPT's SDK)
    send packages here and fetch those addressed to them. Every package is
    verified under <trust> before it is accepted.

    Each connected system is a <client> that signs its requests with a
    shared secret; organ-id lists the agency codes it sends and receives for
    (several, separated by spaces). For each one, make a secret with
      openssl rand -hex 32 > secrets/NAME.secret
    hand the same secret to that system's administrator over a safe channel,
    and add, inside <exchange>:
      <client system-id="huong-hoa" organ-id="000.00.12.H50" secret-file="secrets/huong-hoa.secret"/>

    listen is on 127.0.0.1: districts on other machines need the address of
    a network card (or 0.0.0.0), and then HTTPS: tls-cert="..." tls-key="...",
    with tls-client-ca="..." to ask every client for a certificate.
    The agency directory (getAgenciesList) holds every client's organs;
    add others with <agency code="..." name="..."/>, and let systems
    register themselves with register-agencies="allow".
  -->
  <exchange listen="127.0.0.1:9090">
  </exchange>

  <!--
    The hub's own documents (optional): the province's own office connects
    to its hub like any district. Add a client for it in <exchange>
    (system-id="self" organ-id=")" +
         escape_in_comment(o.organ_id) + R"(" secret-file="secrets/self.secret"),
    switch the api on as above, and add:
  <adapters>
    <adapter name="hub" type="vdxp" url="http://127.0.0.1:9090"
             system-id="self" secret-file="secrets/self.secret"/>
    <adapter name="office" type="directory" path=")" +
         escape_in_comment(inbox_path(o.data_dir)) + R"("/>
  </adapters>
  <routes>
    <route to="*" via="hub"/>
    <inbound via="office"/>
  </routes>
  -->
)";
}

std::string footer_part() {
  return R"(
  <!--
    Also possible: <store retention="3650d"/> (how long package bodies are
    kept; by default until "edocgw purge"), <store type="postgresql" dsn="..."/>
    (several gateways of one organisation sharing one database), and
    <signature-log checkpoint-every="60s"/>.
  -->
</gateway>
)";
}

std::vector<NeededFile> needed_files(const InitOptions& o) {
  std::vector<NeededFile> needed = {
      {kIdentityCert,
       "your organisation's signing certificate (PEM) naming " + o.organ_id +
           " as its UID, followed by the certificates of the CAs that issued it; the CA issues "
           "it for the key in " +
           kIdentityKey + "."},
      {kIdentityKey,
       "the private key of that certificate (PEM, or PKCS#12): make it with "
       "\"openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out " +
           std::string(kIdentityKey) +
           "\", send your CA a request for it, and let only the gateway read it (the "
           "package's layout: chown root:edocgw, chmod 0640)."},
      {kAnchors,
       "the root CA certificates (PEM) whose signers you accept, such as the "
       "government root CA; take them from the CA and check their fingerprints."},
  };
  if (!o.hub) {
    needed.push_back(
        {kProvinceSecret,
         "the shared secret the province's hub gave this gateway for system-id " + o.organ_id +
             ", as text on one line, readable by the gateway only (chown root:edocgw, chmod "
             "0640)."});
  }
  return needed;
}

std::vector<std::string> next_steps(const InitOptions& o) {
  std::vector<std::string> steps;
  if (!o.hub) {
    steps.push_back("Replace url=\"" + std::string(kPlaceholderUrl) +
                    "\" and system-id in the province adapter with what the province gives you.");
  } else {
    steps.push_back(
        "For each district or system that connects to the hub, make a secret (openssl rand -hex "
        "32 > secrets/NAME.secret), add a <client> for it in <exchange> and give it the secret.");
  }
  if (o.api_token_sha256.empty()) {
    steps.push_back(
        "To switch on the local API for your office system, make a token (TOKEN=$(openssl rand "
        "-hex 32)), put the 64 hex digits that printf %s \"$TOKEN\" | sha256sum prints in "
        "token-sha256 and remove the comment marks around <api>.");
  }
  return steps;
}

}  // namespace

Result<InitResult> render_initial_config(const InitOptions& options) {
  if (auto st = check_options(options); !st) return st.error();
  InitResult result;
  result.xml = header_part(options) + identity_and_trust_part() + api_part(options) +
               (options.hub ? hub_part(options) : district_part(options)) + footer_part();
  result.needed = needed_files(options);
  result.next_steps = next_steps(options);
  return result;
}

}  // namespace edocgw::gateway
