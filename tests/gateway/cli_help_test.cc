// Issue 13: every command's --help, the man page and --version, read from
// the real binary. The option lists are parsed out of the help text and
// compared with what the command's parser accepts (cli_commands.h), and
// every option the help names is fed back to the binary to see that it is
// not refused as unknown. --version is compared with the versions dpkg
// records for the library files the binary loads (ldd), an outside source.
#define BOOST_TEST_MODULE cli_help
#include <boost/test/unit_test.hpp>

#include <regex>
#include <set>
#include <sstream>
#include <string>

#include "gateway/cli_commands.h"
#include "gateway/version.h"
#include "tests/test_support.h"

using namespace edocgw;
using namespace edocgw::test;

namespace {

std::set<std::string> accepted(const cli::CommandDoc& c) {
  const auto spec = cli::spec_of(c);
  std::set<std::string> all(spec.with_value.begin(), spec.with_value.end());
  all.insert(spec.flags.begin(), spec.flags.end());
  return all;
}

// The "Options:" section of a help text: option name -> what follows it on
// its line ("" for a flag, the value's placeholder otherwise).
std::map<std::string, std::string> options_in_help(const std::string& help) {
  std::map<std::string, std::string> out;
  std::istringstream lines(help);
  std::string line;
  bool in_options = false;
  const std::regex option_line(R"(^  (--[a-z0-9-]+)(?:, -h)?(?: (\S+))?(?:\s{2,}.*)?$)");
  while (std::getline(lines, line)) {
    if (line == "Options:") {
      in_options = true;
      continue;
    }
    if (in_options && line.empty()) break;
    std::smatch m;
    if (in_options && std::regex_match(line, m, option_line)) out[m[1]] = m[2];
  }
  return out;
}

std::string bin() {
  return edocgw_cmd();
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_command_has_help_naming_exactly_the_options_it_accepts) {
  BOOST_REQUIRE(cli::commands().size() >= 18);
  for (const auto& c : cli::commands()) {
    BOOST_TEST_CONTEXT(c.name) {
      const auto r = run(bin() + " " + c.name + " --help </dev/null");
      BOOST_TEST(r.exit_code == 0, r.err);
      BOOST_TEST(r.out.rfind("usage: edocgw " + c.name, 0) == 0, r.out);
      BOOST_TEST(r.out.find("Exit codes:\n  0  ") != std::string::npos, r.out);
      BOOST_TEST(r.out.find("Example") != std::string::npos, r.out);
      // -h is the same as --help.
      BOOST_TEST(run(bin() + " " + c.name + " -h </dev/null").out == r.out);

      auto in_help = options_in_help(r.out);
      BOOST_TEST(in_help.count("--help") == 1);
      in_help.erase("--help");
      std::set<std::string> named;
      for (const auto& [name, value] : in_help) named.insert(name);
      const auto spec = cli::spec_of(c);
      const auto accepts = accepted(c);
      BOOST_TEST(named == accepts,
                 "help names " << named.size() << " options, the parser takes " << accepts.size());
      // A value option shows its value; a flag shows none.
      for (const auto& [name, value] : in_help) {
        BOOST_TEST_CONTEXT(name) {
          BOOST_TEST(spec.with_value.count(name) == (value.empty() ? 0u : 1u));
        }
      }
    }
  }
}

// The help's options are fed to the binary: none may be an unknown option,
// and an option no help names is one. Every command is run so that it stops
// at a usage or file error before doing anything (no --config that exists,
// no input on stdin).
BOOST_AUTO_TEST_CASE(every_option_named_in_help_is_accepted_by_the_binary) {
  const std::string nowhere = "/nonexistent/edocgw-cli-help-test";
  for (const auto& c : cli::commands()) {
    const auto help = run(bin() + " " + c.name + " --help </dev/null");
    for (const auto& [name, value] : options_in_help(help.out)) {
      if (name == "--help") continue;
      BOOST_TEST_CONTEXT(c.name << " " << name) {
        const std::string arg = value.empty() ? name : name + " " + nowhere;
        const auto r = run(bin() + " " + c.name + " " + arg + " </dev/null");
        BOOST_TEST(r.err.find("unknown option") == std::string::npos, r.err);
      }
    }
    BOOST_TEST_CONTEXT(c.name << " --no-such-option") {
      const auto r = run(bin() + " " + c.name + " --no-such-option </dev/null");
      BOOST_TEST(r.exit_code == 2);
      BOOST_TEST(r.err.find("unknown option --no-such-option") != std::string::npos, r.err);
      // A usage error shows the command's synopsis and where its help is.
      BOOST_TEST(r.err.find("edocgw " + c.name + " --help") != std::string::npos, r.err);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_overview_lists_every_command_and_help_command_matches) {
  const auto overview = run(bin() + " --help");
  BOOST_TEST(overview.exit_code == 0);
  for (const auto& c : cli::commands())
    BOOST_TEST(overview.out.find("\n  " + c.name + " ") != std::string::npos, c.name);
  BOOST_TEST(run(bin() + " help").out == overview.out);
  const auto none = run(bin() + " </dev/null");
  BOOST_TEST(none.exit_code == 2);
  BOOST_TEST(none.err == overview.out);
  BOOST_TEST(run(bin() + " help audit verify").out == run(bin() + " audit verify --help").out);
  const auto unknown = run(bin() + " frobnicate");
  BOOST_TEST(unknown.exit_code == 2);
  BOOST_TEST(unknown.err.find("unknown command 'frobnicate'") != std::string::npos, unknown.err);
  const auto half = run(bin() + " audit");
  BOOST_TEST(half.exit_code == 2);
  BOOST_TEST(half.err.find("edocgw audit check-bundle") != std::string::npos, half.err);
  // A group's --help, and "help GROUP", list its commands.
  for (const std::string group : {"audit --help", "audit -h", "help audit"}) {
    const auto listed = run(bin() + " " + group);
    BOOST_TEST(listed.exit_code == 0, group);
    BOOST_TEST(listed.out.find("  edocgw audit consistency\n") != std::string::npos, listed.out);
  }
  BOOST_TEST(run(bin() + " --version --help").out == run(bin() + " version --help").out);
  // "-h" as an option's value is a value, not a request for help.
  TempDir dir;
  const auto named =
      run(bin() + " config init --organ-id 000.00.12.H50 --name -h --out " + quote(dir / "g.xml"));
  BOOST_TEST(named.exit_code == 0, named.err);
  BOOST_TEST(read(dir / "g.xml").find("name=\"-h\"") != std::string::npos);
  // With --out - the file alone is on stdout, the report on stderr.
  const auto piped = run(bin() + " config init --organ-id 000.00.12.H50 --name X --out -");
  BOOST_TEST(piped.exit_code == 0);
  BOOST_TEST(piped.out.rfind("<gateway") != std::string::npos);
  BOOST_TEST(piped.out.ends_with("</gateway>\n"), piped.out);
  BOOST_TEST(piped.err.find("certs/identity.pem: ") != std::string::npos, piped.err);
  // "-" is standard output even where a file named "-" exists.
  write(dir / "-", "");
  const auto beside = run("cd " + quote(dir.path()) + " && " + bin() +
                          " config init --organ-id 000.00.12.H50 --name X --out -");
  BOOST_TEST(beside.exit_code == 0, beside.err);
  BOOST_TEST(beside.out == piped.out);
  BOOST_TEST(read(dir / "-").empty());
}

BOOST_AUTO_TEST_CASE(the_man_page_is_made_from_the_same_table) {
  const auto man = run(bin() + " help --man");
  BOOST_REQUIRE(man.exit_code == 0);
  BOOST_TEST(man.out.find(".TH EDOCGW 8 ") != std::string::npos);
  for (const char* section :
       {".SH NAME", ".SH SYNOPSIS", ".SH COMMANDS", ".SH EXIT STATUS", ".SH SIGNALS", ".SH FILES"})
    BOOST_TEST(man.out.find(section) != std::string::npos, section);
  // roff writes an option's hyphens as \- (ASCII minus signs), a word's as hyphens.
  const auto roff = [](const std::string& text) {
    std::string out;
    for (char ch : text) out += ch == '-' ? std::string("\\-") : std::string(1, ch);
    return out;
  };
  for (const auto& c : cli::commands()) {
    BOOST_TEST(man.out.find(".SS \"" + c.name + "\"") != std::string::npos, c.name);
    for (const auto& o : c.options)
      BOOST_TEST(man.out.find(".B " + roff(o.name)) != std::string::npos, c.name << " " << o.name);
  }
  // groff (man-db's renderer) reads it without a warning, where installed.
  if (!have("groff")) {
    BOOST_TEST_MESSAGE("groff not installed: the page's rendering not checked");
    return;
  }
  TempDir dir;
  write(dir / "edocgw.8", man.out);
  const auto rendered = run("groff -k -man -Tutf8 -ww -z " + quote(dir / "edocgw.8"));
  BOOST_TEST(rendered.exit_code == 0);
  BOOST_TEST(rendered.err.empty(), rendered.err);
}

namespace {

// Debian's upstream part of a package version: "1:3.0.17-1~deb12u2" -> "3.0.17".
std::string upstream(std::string v) {
  if (auto colon = v.find(':'); colon != std::string::npos) v = v.substr(colon + 1);
  if (auto cut = v.find_first_of("-+~"); cut != std::string::npos) v = v.substr(0, cut);
  return v;
}

// `text` matched literally in a std::regex.
std::string regex_escape(const std::string& text) {
  static const std::regex special(R"([.^$|()\[\]{}*+?\\])");
  return std::regex_replace(text, special, R"(\$&)");
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(version_names_the_commit_and_the_libraries_actually_loaded) {
  const auto r = run(bin() + " --version");
  BOOST_REQUIRE(r.exit_code == 0);
  BOOST_TEST(run(bin() + " version").out == r.out);
  const std::regex first(R"(^edocgw (\d+\.\d+\.\d+) \(commit ([0-9a-f]{12}(-dirty)?|unknown), )");
  std::smatch m;
  BOOST_REQUIRE(std::regex_search(r.out, m, first));
  BOOST_TEST(m[1].str() == std::string(gateway::kVersion));
  // The commit is the one written at build time, and a real commit of this
  // repository (HEAD may have moved on since the build).
  BOOST_TEST(m[2].str() == std::string(gateway::kCommit));
  if (m[2].str() != "unknown") {
    const std::string hash = m[2].str().substr(0, 12);
    const auto known =
        run("git -C " + quote(EDOCGW_SOURCE_DIR) + " cat-file -e " + hash + "^{commit}");
    BOOST_TEST(known.exit_code == 0, hash << " is not a commit of " << EDOCGW_SOURCE_DIR);
  }

  if (!have("dpkg-query") || !have("ldd")) {
    BOOST_TEST_MESSAGE("no dpkg or ldd: library versions not compared");
    return;
  }
  // name in --version, the loaded file's name as ldd prints it
  const std::vector<std::pair<std::string, std::string>> libs = {
      {"OpenSSL", "libcrypto.so.3"}, {"xmlsec1", "libxmlsec1.so.1"}, {"libxml2", "libxml2.so.2"},
      {"SQLite", "libsqlite3.so.0"}, {"libpq", "libpq.so.5"},        {"qpdf", "libqpdf.so."},
      {"libcurl", "libcurl.so.4"}};
  const auto ldd = run("ldd " + quote(edocgw_bin()));
  BOOST_REQUIRE(ldd.exit_code == 0);
  for (const auto& [name, soname] : libs) {
    BOOST_TEST_CONTEXT(name) {
      const std::regex where("\\s" + regex_escape(soname) + R"(\S* => (\S+))");
      std::smatch lm;
      BOOST_REQUIRE_MESSAGE(std::regex_search(ldd.out, lm, where), ldd.out);
      const std::string real = std::filesystem::canonical(lm[1].str()).string();
      auto owner = run("dpkg-query -S " + quote(real) + " 2>/dev/null");
      if (owner.exit_code != 0) owner = run("dpkg-query -S " + quote(lm[1].str()) + " 2>/dev/null");
      BOOST_REQUIRE_MESSAGE(owner.exit_code == 0, "no package owns " << real);
      const std::string package = owner.out.substr(0, owner.out.find(':'));
      const std::string version =
          upstream(trim(run("dpkg-query -W -f='${Version}' " + package).out));
      BOOST_TEST_MESSAGE(name << ": " << real << " from " << package << " " << version);
      const std::regex line("\\n  " + name + " +" + regex_escape(version) + " \\(" +
                            regex_escape(real) + "\\)\\n");
      BOOST_TEST(std::regex_search(r.out, line),
                 r.out << "\nexpected " << name << " " << version << " (" << real << ")");
    }
  }
}

// What keeps the two from drifting: every parse in the CLI takes its spec
// from the table. An option list written out beside a parse call would be
// accepted without being documented; this reads the source to refuse one.
BOOST_AUTO_TEST_CASE(every_parse_in_the_cli_takes_its_options_from_the_table) {
  const std::string source = read(std::filesystem::path(EDOCGW_SOURCE_DIR) / "gateway/cli.cc");
  size_t parses = 0;
  for (size_t at = source.find("Args::parse("); at != std::string::npos;
       at = source.find("Args::parse(", at + 1)) {
    ++parses;
    const std::string call = source.substr(at, source.find(';', at) - at);
    const bool from_table = call.find("spec_of(\"") != std::string::npos ||
                            std::regex_search(call, std::regex(R"(,\s*spec\)$)"));
    BOOST_TEST(from_table, call);
  }
  BOOST_TEST(parses >= 17u);
  for (size_t at = source.find("OptionSpec spec"); at != std::string::npos;
       at = source.find("OptionSpec spec", at + 1)) {
    const std::string decl = source.substr(at, source.find(';', at) - at);
    if (decl.find('(') != std::string::npos && decl.find('=') == std::string::npos)
      continue;  // a parameter, "const OptionSpec& spec"
    BOOST_TEST(decl.find("= spec_of(") != std::string::npos, decl);
  }
}

// The synopsis lines are written by hand: each names only the command's
// options, and together they name all of them.
BOOST_AUTO_TEST_CASE(every_synopsis_names_exactly_the_commands_options) {
  const std::regex option(R"(--[a-z0-9-]+)");
  for (const auto& c : cli::commands()) {
    BOOST_TEST_CONTEXT(c.name) {
      std::set<std::string> in_synopsis;
      for (const auto& line : c.synopsis)
        for (auto it = std::sregex_iterator(line.begin(), line.end(), option);
             it != std::sregex_iterator(); ++it)
          in_synopsis.insert(it->str());
      BOOST_TEST(in_synopsis == accepted(c));
    }
  }
}

// Every option a command's code reads (args->get("--x"), flag, all,
// get_or) is one its table lists: else the parser would refuse it and the
// feature would be dead. Read from the source, function by function.
BOOST_AUTO_TEST_CASE(every_option_a_command_reads_is_in_its_table) {
  const std::string source = read(std::filesystem::path(EDOCGW_SOURCE_DIR) / "gateway/cli.cc");
  const std::regex reads(R"re((?:get|flag|all|get_or)\("(--[a-z0-9-]+)")re");
  const std::regex table(R"re(spec_of\("([a-z -]+)"\))re");
  size_t functions = 0;
  for (size_t at = source.find("\nint cmd_"); at != std::string::npos;
       at = source.find("\nint cmd_", at + 1)) {
    const std::string body = source.substr(at, source.find("\n}\n", at) - at);
    std::smatch name;
    if (!std::regex_search(body, name, table)) continue;
    const cli::CommandDoc* c = cli::find_command(name[1].str());
    BOOST_REQUIRE_MESSAGE(c != nullptr, name[1].str());
    ++functions;
    const auto known = accepted(*c);
    for (auto it = std::sregex_iterator(body.begin(), body.end(), reads);
         it != std::sregex_iterator(); ++it)
      BOOST_TEST(known.count((*it)[1].str()) == 1u, c->name << " reads " << (*it)[1].str());
  }
  BOOST_TEST(functions >= 15u);
}
