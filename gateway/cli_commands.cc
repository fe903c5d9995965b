#include "gateway/cli_commands.h"

#include <sstream>
#include <stdexcept>

namespace edocgw::cli {
namespace {

// The exit codes every command shares (shared/INTERFACE.md), and the usual
// meanings of 0 and 1 for a command that judges its input.
ExitDoc exit_ok(std::string meaning) {
  return {0, std::move(meaning)};
}
ExitDoc exit_invalid(std::string meaning) {
  return {1, std::move(meaning)};
}
ExitDoc exit_usage() {
  return {2,
          "usage error (an unknown or missing option), or a file that cannot be read or "
          "written"};
}

OptionDoc opt(std::string name, std::string value, std::string help, bool repeatable = false) {
  return {std::move(name), std::move(value), std::move(help), repeatable};
}
OptionDoc flag(std::string name, std::string help) {
  return {std::move(name), "", std::move(help), false};
}

// The options of the three command-line verifiers (verify, pdf verify, cert verify).
// with_config: the command also takes --config (then --trust is not needed).
std::vector<OptionDoc> trust_options(bool with_config = false) {
  return {
      opt("--trust", "ANCHORS.pem",
          with_config ? "Trust anchors (PEM, several certificates allowed). Required unless "
                        "--config is given."
                      : "Trust anchors (PEM, several certificates allowed). Required.",
          true),
      opt("--untrusted", "I.pem", "Intermediate certificates to build the path with.", true),
      opt("--crl", "F",
          "A CRL file (PEM or DER, several PEM CRLs allowed); with any CRL the whole chain is "
          "checked for revocation.",
          true),
      opt("--policy", "OID",
          "The signer's path must be valid for one of these certificate policies (RFC 5280).",
          true),
      opt("--at", "TIME",
          "Judge at this RFC 3339 time instead of now (the certificates' validity, the CRLs)."),
  };
}

std::vector<OptionDoc> revocation_options() {
  return {
      flag("--ocsp", "Ask the signer certificate's own OCSP responder (its AIA)."),
      opt("--ocsp-url", "URL", "Ask this OCSP responder instead."),
      flag("--require-revocation",
           "Fail when the signer's revocation status cannot be established."),
  };
}

std::vector<OptionDoc> pdf_policy_options() {
  return {
      opt("--organ-map", "FILE",
          "Which agency a personal certificate signs for (lines \"sha256:HEX ORGAN_ID\" or "
          "\"subject:SUBJECT ORGAN_ID\")."),
      opt("--pdf-signatures", "none|any|organisation",
          "What PDF attachments must carry: nothing (default), any valid signature, or the "
          "sending organisation's."),
      flag("--pdf-official",
           "Also require an official's personal signature (with --pdf-signatures organisation)."),
      flag("--pdf-report-unverifiable",
           "Report a PDF signature that cannot be judged instead of refusing it."),
      flag("--allow-sha1", "Accept SHA-1 digests and signatures, with a warning."),
  };
}

std::vector<OptionDoc> join(std::initializer_list<std::vector<OptionDoc>> parts) {
  std::vector<OptionDoc> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<CommandDoc> make_commands() {
  std::vector<CommandDoc> c;

  c.push_back({
      "serve",
      "run the gateway daemon",
      {"--config gateway.xml"},
      "Runs the gateway of gateway.xml: the local API for office systems, the exchange API when "
      "<exchange> is configured (a hub), the adapters' deliveries and polls, and the signature "
      "log. Logs one JSON object per line on stderr.\n\n"
      "SIGHUP reloads the configuration (an invalid file is refused and logged, and the old one "
      "keeps running); SIGTERM and SIGINT stop accepting, finish the requests in flight (up to "
      "30 s), sign a last checkpoint and exit 0. Under systemd (NOTIFY_SOCKET set) it reports "
      "READY=1 once listening, RELOADING=1 and READY=1 around a reload, STOPPING=1, and "
      "WATCHDOG=1 pings when WatchdogSec= is set.",
      {opt("--config", "gateway.xml", "The configuration file. Required.")},
      {"edocgw serve --config /etc/edocgw/gateway.xml"},
      {exit_ok("stopped cleanly after SIGTERM or SIGINT"),
       exit_invalid("the configuration is invalid, or the identity has expired"),
       {2,
        "usage error, or the gateway cannot start (a port in use, a data-dir locked by "
        "another gateway, an unreadable file)"}},
  });

  c.push_back({
      "config check",
      "check a configuration file before use",
      {"gateway.xml", "--config gateway.xml"},
      "Reads gateway.xml as serve would and checks everything it names: the identity key and "
      "certificate (and that they match), trust anchors, CRLs, TLS files, secrets, adapters and "
      "routes. Errors read \"gateway.xml:LINE: message\". On success prints a summary, with every "
      "certificate's expiry date, soonest first.",
      {opt("--config", "gateway.xml", "The configuration file (or give it as the argument).")},
      {"edocgw config check /etc/edocgw/gateway.xml"},
      {exit_ok("the configuration is valid"),
       exit_invalid("the configuration is invalid; the first stderr line names the file and line"),
       exit_usage()},
  });

  c.push_back({
      "config init",
      "write a commented starting configuration",
      {"--organ-id ID --name NAME [--hub] [--data-dir DIR] [--api-token-sha256 HEX] "
       "[--out gateway.xml] [--force]"},
      "Writes a commented gateway.xml for the agency ID, then lists the files it names that must "
      "still be put in place (the identity's certificate and key, the trust anchors, the "
      "exchange secret) and what to do next. Once they exist, config check passes.",
      {opt("--organ-id", "ID", "The agency code (e.g. 000.00.12.H50). Required."),
       opt("--name", "NAME", "The organisation's name, as it appears in packages. Required."),
       flag("--hub", "Also serve the exchange API (a province's hub)."),
       opt("--data-dir", "DIR",
           "Where the gateway keeps its data (default var, relative to the config file)."),
       opt("--api-token-sha256", "HEX",
           "Switch the local API on for one client, office, whose bearer token has this SHA-256 "
           "(64 lower-case hex: printf %s \"$TOKEN\" | sha256sum). Without it the API is a "
           "commented example."),
       opt("--out", "FILE", "Where to write (default gateway.xml)."),
       flag("--force", "Overwrite --out if it exists.")},
      {"edocgw config init --organ-id 000.00.12.H50 --name 'UBND huyện Hướng Hóa' --out "
       "gateway.xml"},
      {exit_ok("written"), exit_usage()},
  });

  c.push_back({
      "routes explain",
      "show which route a recipient takes, and why",
      {"--config gateway.xml --to ORGAN_ID"},
      "Prints the <route> rules of gateway.xml tried for ORGAN_ID, in order, and the adapter the "
      "first match sends through.",
      {opt("--config", "gateway.xml", "The configuration file. Required."),
       opt("--to", "ORGAN_ID", "The recipient's agency code. Required.")},
      {"edocgw routes explain --config gateway.xml --to 000.00.13.H50"},
      {exit_ok("a route matches"),
       exit_invalid("no route matches, or ORGAN_ID is not an agency "
                    "code, or the configuration is invalid"),
       exit_usage()},
  });

  c.push_back({
      "sign",
      "sign an edXML package as the organisation",
      {"--cert C.pem --key K.pem [--chain I.pem] [--pass env:VAR|file:PATH] [--in F] [--out G]",
       "--config gateway.xml [--in F] [--out G]"},
      "Signs an unsigned edXML package (XMLDSig, enveloped, exclusive c14n, RSA-SHA256) with "
      "the organisation's certificate. The key is PEM or PKCS#12 (then --cert may be left out). "
      "With --config, the identity of gateway.xml is used.",
      {opt("--cert", "C.pem", "The signing certificate."),
       opt("--key", "K.pem", "The private key (PEM), or a PKCS#12 file."),
       opt("--chain", "I.pem", "Intermediate certificates to include in KeyInfo."),
       opt("--pass", "env:VAR|file:PATH", "Where the key's passphrase is."),
       opt("--config", "gateway.xml", "Sign with the gateway's <identity> instead."),
       opt("--in", "F", "The package to sign (default stdin)."),
       opt("--out", "G", "Where to write the signed package (default stdout).")},
      {"edocgw sign --cert org.pem --key org.key --chain ca.pem --in package.xml --out "
       "signed.xml"},
      {exit_ok("signed"),
       exit_invalid("the package or the identity cannot be used (not edXML, already signed, a "
                    "certificate without the signing key usage)"),
       exit_usage()},
  });

  c.push_back({
      "verify",
      "verify a signed edXML package",
      {"--trust ANCHORS.pem... [--untrusted I.pem]... [--crl F]... [--policy OID]... [--at TIME] "
       "[--ocsp | --ocsp-url URL] [--require-revocation] [--allow-sha1] "
       "[--allow-inclusive-c14n] [--accept-unsigned] [--organ-map FILE] "
       "[--pdf-signatures none|any|organisation] [--pdf-official] [--pdf-report-unverifiable] "
       "[--json] [--in F]",
       "--config gateway.xml [--adapter NAME] [--at TIME] [--json] [--in F]"},
      "Verifies a package as a recipient does: the XML signature, the signer's certificate path "
      "to a trust anchor, revocation, the sender binding, and the signatures of the PDF "
      "attachments. Strict unless an option relaxes it. With --config, the gateway's trust and "
      "<accept> rules are applied, as if the package came through adapter NAME. --json prints "
      "the whole report (every check with its outcome).",
      join({trust_options(true),
            revocation_options(),
            pdf_policy_options(),
            {flag("--allow-inclusive-c14n", "Accept inclusive canonicalisation, with a warning."),
             flag("--accept-unsigned", "Accept an unsigned package (state unsigned, exit 0)."),
             opt("--config", "gateway.xml", "Use the gateway's trust and <accept> policy."),
             opt("--adapter", "NAME", "With --config: the adapter the package came through."),
             flag("--json", "Print the report as one JSON object."),
             opt("--in", "F", "The package (default stdin).")}}),
      {"edocgw verify --trust root.pem --untrusted ca.pem --crl ca.crl --json --in signed.xml",
       "edocgw verify --config /etc/edocgw/gateway.xml --adapter province --in signed.xml"},
      {exit_ok("valid (or unsigned, where the policy accepts it)"),
       exit_invalid("invalid; the first stderr line says which check failed and why"),
       exit_usage()},
  });

  c.push_back({
      "pdf verify",
      "verify the signatures inside a PDF",
      {"--trust ANCHORS.pem... [--untrusted I.pem]... [--crl F]... [--policy OID]... [--at TIME] "
       "[--ocsp | --ocsp-url URL] [--require-revocation] [--organ-map FILE] [--sender ORGAN_ID] "
       "[--pdf-signatures none|any|organisation] [--pdf-official] [--pdf-report-unverifiable] "
       "[--allow-sha1] [--json] FILE.pdf"},
      "Verifies every signature of a bare PDF (PAdES/CMS): the signed byte ranges, what changed "
      "after each signature, the signer's path, timestamps and revocation, and whom the "
      "signature binds (the organisation, an official).",
      join({trust_options(),
            revocation_options(),
            pdf_policy_options(),
            {opt("--sender", "ORGAN_ID", "The agency the organisation's signature must belong to."),
             flag("--json", "Print the report as one JSON object.")}}),
      {"edocgw pdf verify --trust root.pem --untrusted ca.pem --pdf-signatures organisation "
       "quyet-dinh.pdf"},
      {exit_ok("verified, or unsigned and nothing required"),
       exit_invalid("a signature is invalid, or cannot be verified, or a required one is "
                    "missing"),
       exit_usage()},
  });

  c.push_back({
      "cert verify",
      "check a certificate's path, validity and revocation",
      {"--trust ANCHORS.pem... [--untrusted I.pem]... [--crl F]... [--policy OID]... [--at TIME] "
       "[--json] CERT.pem"},
      "Builds and checks the path of CERT.pem to a trust anchor, as a package signer's would "
      "be, and names the certificate policy that held.",
      join({trust_options(), {flag("--json", "Print the result as one JSON object.")}}),
      {"edocgw cert verify --trust root.pem --untrusted ca.pem --crl ca.crl org.pem"},
      {exit_ok("the certificate is valid"), exit_invalid("it is not; stderr says why"),
       exit_usage()},
  });

  c.push_back({
      "edxml build",
      "build an unsigned edXML package",
      {"--meta META.json [--attach FILE]... [--out PKG]"},
      "Builds an unsigned edXML package from JSON metadata (sender, recipients, code, subject, "
      "...; see the README) and attachment files.",
      {opt("--meta", "META.json", "The metadata. Required."),
       opt("--attach", "FILE", "A file to attach; its name becomes the attachment's name.", true),
       opt("--out", "PKG", "Where to write (default stdout).")},
      {"edocgw edxml build --meta meta.json --attach cong-van.pdf --out package.xml"},
      {exit_ok("built"), exit_invalid("the metadata is invalid"), exit_usage()},
  });

  c.push_back({
      "edxml status",
      "build an edXML status package",
      {"--meta STATUS.json [--out PKG]"},
      "Builds a status package (01 arrived, 02 refused, 03 accepted, ...; see the README) from "
      "JSON.",
      {opt("--meta", "STATUS.json", "The status. Required."),
       opt("--out", "PKG", "Where to write (default stdout).")},
      {"edocgw edxml status --meta status.json --out status.xml"},
      {exit_ok("built"), exit_invalid("the status is invalid"), exit_usage()},
  });

  c.push_back({
      "edxml inspect",
      "show what an edXML package holds",
      {"[--json] PKG"},
      "Prints a package's sender, recipients, code, subject, dates, attachments (size, "
      "SHA-256) and signature, without judging the signature.",
      {flag("--json", "Print one JSON object.")},
      {"edocgw edxml inspect --json package.xml"},
      {exit_ok("shown"), exit_invalid("not an edXML package"), exit_usage()},
  });

  c.push_back({
      "purge",
      "drop old package bodies (retention)",
      {"(--config gateway.xml | --data-dir DIR) --before DATE [--json]"},
      "Drops whole segments of package bodies older than DATE (YYYY-MM-DD or RFC 3339) that no "
      "pending work needs. The signature log keeps their hashes. With the embedded store the "
      "gateway must be stopped (its data-dir is locked); with <store type=\"postgresql\"> it "
      "may run.",
      {opt("--config", "gateway.xml", "The gateway whose data to purge."),
       opt("--data-dir", "DIR", "Or its data-dir."),
       opt("--before", "DATE", "Drop bodies older than this. Required."),
       flag("--json", "Print the report as one JSON object.")},
      {"edocgw purge --config /etc/edocgw/gateway.xml --before 2021-01-01"},
      {exit_ok("purged (or nothing to purge)"), exit_invalid("the configuration is invalid"),
       exit_usage()},
  });

  c.push_back({
      "audit verify",
      "verify a signature log offline",
      {"(--config gateway.xml | --data-dir DIR)... [--trust ANCHORS.pem] [--keep OLD.note]... "
       "[--no-packages] [--json]"},
      "Verifies the tamper-evident signature log: every record's hash, the Merkle tree, every "
      "signed checkpoint (origin and signer), and, unless --no-packages, every archived package "
      "and its signature again. Several sources (the nodes of one organisation) are verified "
      "apart, then together. A kept checkpoint note (--keep) proves the log only grew since.",
      {opt("--config", "gateway.xml", "The gateway whose log to verify.", true),
       opt("--data-dir", "DIR", "Or a data-dir (copied, or of a stopped gateway).", true),
       opt("--trust", "ANCHORS.pem",
           "The anchors to judge checkpoint signers and packages with (with --data-dir)."),
       opt("--keep", "OLD.note", "A checkpoint kept earlier: the log must extend it.", true),
       flag("--no-packages", "Do not re-verify the archived packages."),
       flag("--json", "Print the report as one JSON object.")},
      {"edocgw audit verify --config /etc/edocgw/gateway.xml --keep 2026-01.note"},
      {exit_ok("the log verifies"),
       exit_invalid("it does not; the first stderr line says where and why"), exit_usage()},
  });

  c.push_back({
      "audit prove",
      "write a proof bundle for one document",
      {"(--config gateway.xml | --data-dir DIR) DOCUMENT_ID [--out BUNDLE]"},
      "Writes a self-contained bundle (the record, its inclusion proof, a signed checkpoint and "
      "the archived package) that audit check-bundle verifies without the gateway.",
      {opt("--config", "gateway.xml", "The gateway whose log to read."),
       opt("--data-dir", "DIR", "Or its data-dir."),
       opt("--out", "BUNDLE", "Where to write (default stdout).")},
      {"edocgw audit prove --config /etc/edocgw/gateway.xml 8f3c...e1 --out doc.bundle"},
      {exit_ok("written"),
       exit_invalid("the document is not in the log, or the log is "
                    "inconsistent"),
       exit_usage()},
  });

  c.push_back({
      "audit check-bundle",
      "verify a proof bundle offline",
      {"--trust ANCHORS.pem [--json] BUNDLE"},
      "Verifies a bundle from audit prove: the inclusion proof, the checkpoint's signature and "
      "signer path, and the package's signature.",
      {opt("--trust", "ANCHORS.pem", "The anchors the gateway's certificate chains to. Required."),
       flag("--json", "Print the result as one JSON object.")},
      {"edocgw audit check-bundle --trust root.pem doc.bundle"},
      {exit_ok("the bundle verifies"), exit_invalid("it does not; stderr says why"), exit_usage()},
  });

  c.push_back({
      "audit consistency",
      "prove that the log only grew since a kept checkpoint",
      {"(--config gateway.xml | --data-dir DIR) --old KEPT.note [--out PROOF]"},
      "Writes a consistency proof from the kept checkpoint to the log's latest one.",
      {opt("--config", "gateway.xml", "The gateway whose log to read."),
       opt("--data-dir", "DIR", "Or its data-dir."),
       opt("--old", "KEPT.note", "The checkpoint kept earlier. Required."),
       opt("--out", "PROOF", "Where to write (default stdout).")},
      {"edocgw audit consistency --config /etc/edocgw/gateway.xml --old 2026-01.note"},
      {exit_ok("written"), exit_invalid("the log does not extend the kept checkpoint"),
       exit_usage()},
  });

  c.push_back({
      "help",
      "show the help of a command, or the man page",
      {"[COMMAND]", "--man"},
      "Prints the help of COMMAND (the same as edocgw COMMAND --help), or the list of commands. "
      "--man prints this manual as roff (man -l - reads it).",
      {flag("--man", "Print the man page edocgw(8) in roff.")},
      {"edocgw help audit verify", "edocgw help --man | man -l -"},
      {exit_ok("shown"), exit_usage()},
  });

  c.push_back({
      "version",
      "show the version and the libraries in use",
      {""},
      "Prints edocgw's version and git commit, and the versions of the libraries it runs with "
      "(OpenSSL, xmlsec1, libxml2, SQLite, libpq, qpdf, libcurl), read from the libraries "
      "loaded, with their files. The same as edocgw --version.",
      {},
      {"edocgw --version"},
      {exit_ok("shown"), {2, "usage error (an argument given)"}},
  });
  return c;
}

// Pieces joined by spaces, wrapped at `width` columns, each line after the
// first indented by `indent`; the first line starts at column `first_used`.
std::string join_wrapped(const std::vector<std::string>& pieces, size_t indent, size_t width,
                         size_t first_used) {
  std::string out;
  size_t col = first_used;
  for (size_t i = 0; i < pieces.size(); ++i) {
    if (i > 0 && col + 1 + pieces[i].size() > width) {
      out += "\n" + std::string(indent, ' ');
      col = indent;
    } else if (i > 0) {
      out += ' ';
      ++col;
    }
    out += pieces[i];
    col += pieces[i].size();
  }
  return out;
}

// Prose wrapped word by word.
std::string wrap(const std::string& text, size_t indent, size_t width, size_t first_used) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return join_wrapped(words, indent, width, first_used);
}

// A synopsis wrapped like prose, but never inside a [...] or (...) group:
// "[--at TIME]" stays on one line.
std::string wrap_synopsis(const std::string& text, size_t indent, size_t width, size_t first_used) {
  std::vector<std::string> groups;
  std::string current;
  int depth = 0;
  for (char ch : text) {
    if (ch == ' ' && depth == 0) {
      if (!current.empty()) groups.push_back(current);
      current.clear();
      continue;
    }
    if (ch == '[' || ch == '(') ++depth;
    if ((ch == ']' || ch == ')') && depth > 0) --depth;
    current += ch;
  }
  if (!current.empty()) groups.push_back(current);
  return join_wrapped(groups, indent, width, first_used);
}

// A description's paragraphs (separated by a blank line).
std::vector<std::string> paragraphs(const std::string& text) {
  std::vector<std::string> out;
  for (size_t start = 0; start <= text.size();) {
    size_t end = text.find("\n\n", start);
    if (end == std::string::npos) end = text.size();
    out.push_back(text.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

std::string option_help(const OptionDoc& o) {
  return o.help + (o.repeatable ? " May be repeated." : "");
}

std::string option_label(const OptionDoc& o) {
  return o.value.empty() ? o.name : o.name + " " + o.value;
}

// roff: a backslash written \e, a line starting with '.' or '\'' guarded,
// and the hyphens of an option ("--trust", "-h", "--pdf-official") written
// \- so they render and copy as ASCII minus signs; a hyphen inside a word
// ("signed-document", a date) stays a hyphen.
std::string roff(std::string_view text) {
  std::string out;
  bool line_start = true;
  bool in_option = false;  // the current word began with '-'
  char before = ' ';
  for (char ch : text) {
    if (line_start && (ch == '.' || ch == '\'')) out += "\\&";
    const bool word_start = before == ' ' || before == '\n' || before == '[' || before == '(' ||
                            before == '|' || before == '"';
    if (word_start) in_option = ch == '-';
    if (ch == ' ' || ch == '\n') in_option = false;
    if (ch == '\\')
      out += "\\e";
    else if (ch == '-' && in_option)
      out += "\\-";
    else
      out += ch;
    line_start = ch == '\n';
    before = ch;
  }
  return out;
}

// A command's synopsis lines in roff, for SYNOPSIS and its own section.
std::string man_synopsis(const CommandDoc& c) {
  std::string m;
  for (const auto& s : c.synopsis)
    m += ".B edocgw " + roff(c.name) + "\n" + (s.empty() ? "" : roff(s) + "\n") + ".br\n";
  return m;
}

}  // namespace

const std::vector<CommandDoc>& commands() {
  static const std::vector<CommandDoc> table = make_commands();
  return table;
}

const CommandDoc* find_command(std::string_view name) {
  for (const auto& c : commands())
    if (c.name == name) return &c;
  return nullptr;
}

OptionSpec spec_of(const CommandDoc& command) {
  OptionSpec spec;
  for (const auto& o : command.options)
    (o.value.empty() ? spec.flags : spec.with_value).insert(o.name);
  return spec;
}

OptionSpec spec_of(std::string_view name) {
  const CommandDoc* c = find_command(name);
  if (c == nullptr) throw std::logic_error("no command '" + std::string(name) + "' documented");
  return spec_of(*c);
}

std::string render_synopsis(const CommandDoc& command) {
  std::string out;
  const std::string lead = "edocgw " + command.name;
  for (size_t i = 0; i < command.synopsis.size(); ++i) {
    const std::string prefix = i == 0 ? "usage: " : "       ";
    const std::string head = prefix + lead;
    const std::string& s = command.synopsis[i];
    out += head + (s.empty() ? "" : " " + wrap_synopsis(s, head.size() + 1, 100, head.size() + 1)) +
           "\n";
  }
  return out;
}

std::string render_help(const CommandDoc& command) {
  std::string out = render_synopsis(command) + "\n";
  for (const auto& p : paragraphs(command.description)) out += wrap(p, 0, 100, 0) + "\n\n";
  out += "Options:\n";
  for (const auto& o : command.options) {
    std::string label = "  " + option_label(o);
    if (label.size() + 2 > 30) {
      out += label + "\n" + std::string(30, ' ') + wrap(option_help(o), 30, 100, 30) + "\n";
    } else {
      label.resize(30, ' ');
      out += label + wrap(option_help(o), 30, 100, 30) + "\n";
    }
  }
  out += "  --help, -h                  Show this help.\n\n";
  if (!command.examples.empty()) {
    out += command.examples.size() == 1 ? "Example:\n" : "Examples:\n";
    for (const auto& e : command.examples) out += "  " + e + "\n";
    out += "\n";
  }
  out += "Exit codes:\n";
  for (const auto& e : command.exit_codes)
    out += "  " + std::to_string(e.code) + "  " + wrap(e.meaning, 5, 100, 5) + "\n";
  return out;
}

std::string render_overview() {
  std::string out =
      "usage: edocgw COMMAND [OPTIONS]\n\n"
      "edocgw: the signed-document exchange gateway (edXML, XMLDSig, PAdES).\n\n"
      "Commands:\n";
  for (const auto& c : commands()) {
    std::string label = "  " + c.name;
    label.resize(22, ' ');
    out += label + c.summary + "\n";
  }
  out +=
      "\nRun 'edocgw COMMAND --help' for a command's options, an example and its exit codes;\n"
      "'edocgw help --man | man -l -' for the whole manual; 'edocgw --version' for the "
      "versions.\n\n"
      "Exit codes: 0 valid/success, 1 judged invalid (the first stderr line says why),\n"
      "2 usage or I/O error.\n";
  return out;
}

std::string render_man(std::string_view version, std::string_view date) {
  std::string m;
  // The coding line lets man-db's preconv read the UTF-8 (Vietnamese names).
  m += ".\\\" -*- coding: UTF-8 -*-\n";
  m += ".\\\" edocgw(8), generated by `edocgw help --man` from the same table as --help.\n";
  m += ".TH EDOCGW 8 \"" + roff(date) + "\" \"edocgw " + roff(version) +
       "\" \"System Administration\"\n";
  m += ".nh\n.ad l\n";  // options are not words: never hyphenated, never stretched
  m += ".SH NAME\nedocgw \\- signed-document exchange gateway for edXML packages\n";
  m += ".SH SYNOPSIS\n";
  for (const auto& c : commands()) m += man_synopsis(c);
  m += ".SH DESCRIPTION\n";
  m += roff(
      "edocgw sits at the border of a government office's document system. Outgoing official "
      "documents leave as edXML packages signed (XMLDSig) with the organisation's X.509 "
      "certificate and travel through the provincial exchange; incoming packages are verified "
      "(signature, certificate path, revocation, sender, and the PAdES signatures of the PDFs "
      "inside) before they enter the office, and statuses travel back. Every signing and "
      "verification goes into a tamper-evident signature log that an auditor verifies offline "
      "with the same binary. One binary serves as the daemon (serve), a hub of the exchange, "
      "and the command-line tools below.\n");
  m += ".SH COMMANDS\n";
  for (const auto& c : commands()) {
    m += ".SS \"" + roff(c.name) + "\"\n" + man_synopsis(c) + ".PP\n";
    for (const auto& p : paragraphs(c.description)) m += roff(p) + "\n.PP\n";
    for (const auto& o : c.options) {
      m += ".TP\n.B " + roff(o.name) + (o.value.empty() ? "" : " \\fI" + roff(o.value) + "\\fR") +
           "\n" + roff(option_help(o)) + "\n";
    }
    if (!c.examples.empty()) {
      m += ".PP\nExample:\n.RS\n.nf\n";
      for (const auto& e : c.examples) m += roff(e) + "\n";
      m += ".fi\n.RE\n";
    }
    m += ".PP\nExit codes:\n";
    for (const auto& e : c.exit_codes)
      m += ".TP\n.B " + std::to_string(e.code) + "\n" + roff(e.meaning) + "\n";
  }
  m += ".SH EXIT STATUS\n";
  m += roff(
      "Every command: 0 success or valid; 1 the input was judged and found invalid (bad "
      "signature, untrusted, revoked, config error), and the first line on stderr says why in "
      "one sentence; 2 usage error, unreadable file or I/O failure. No input makes it crash.\n");
  m += ".SH SIGNALS\n.TP\n.B SIGHUP\n" +
       roff(
           "serve reloads gateway.xml; an invalid file is refused and the old one keeps "
           "running.\n") +
       ".TP\n.B SIGTERM, SIGINT\n" +
       roff("serve stops accepting, finishes the requests in flight and exits 0.\n");
  m += ".SH ENVIRONMENT\n.TP\n.B NOTIFY_SOCKET, WATCHDOG_USEC\n" +
       roff(
           "Set by systemd for Type=notify services: readiness, reload, stop and watchdog "
           "messages go there (sd_notify(3)).\n");
  m += ".SH FILES\n.TP\n.I /etc/edocgw/gateway.xml\n" +
       roff("The configuration read by the packaged unit edocgw.service.\n") +
       ".TP\n.I /var/lib/edocgw\n" +
       roff("The packaged gateway's data-dir: the store, the signature log, revocation data.\n");
  m += ".SH SEE ALSO\n.BR systemctl (1),\n.BR journalctl (1),\n.BR sd_notify (3),\n"
       ".BR systemd.service (5)\n";
  return m;
}

}  // namespace edocgw::cli
