// The systemd units and the Debian package (packaging/, issue 13): the units
// pass systemd's own checks and keep their sandbox; the package cpack makes
// holds exactly the expected files and dependencies; installed into a scratch
// root with its maintainer scripts, it leaves the user, the data-dir and the
// permissions of /etc/edocgw in place, and purging keeps the data.
//
// The sandbox is judged statically (systemd-analyze): running the daemon
// under it needs systemd as PID 1, which a test cannot count on.
#define BOOST_TEST_MODULE packaging
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include "tests/test_support.h"

using namespace edocgw;
using test::quote;
namespace fs = std::filesystem;

namespace {

const fs::path kBuildDir = EDOCGW_BUILD_DIR;
// The units as installed, made by packaging/CMakeLists.txt from edocgw.service.in.
const fs::path kUnitDir = kBuildDir / "packaging";
const char* const kUnits[] = {"edocgw.service", "edocgw@.service"};

// The exposure systemd-analyze security gives the units, measured: 1.1. A
// score above this means a sandboxing line went away.
constexpr double kMaxExposure = 1.1;

// A copy of a unit whose ExecStart= and friends name the binary under test
// (systemd-analyze verify checks that they exist), with the man page it
// documents under `dir`/man (verify runs `man` for Documentation=man:).
void stage_unit(const fs::path& dir, const std::string& unit) {
  const std::string text = test::read(kUnitDir / unit);
  std::string out;
  const std::string from = "/usr/bin/edocgw";
  size_t at = 0;
  for (size_t hit; (hit = text.find(from, at)) != std::string::npos; at = hit + from.size()) {
    out += text.substr(at, hit - at) + test::edocgw_bin().string();
  }
  out += text.substr(at);
  test::write(dir / unit, out);
  fs::create_directories(dir / "man/man8");
  fs::copy_file(kUnitDir / "edocgw.8.gz", dir / "man/man8/edocgw.8.gz",
                fs::copy_options::overwrite_existing);
}

// "→ Overall exposure level for edocgw.service: 1.1 OK 🙂" → 1.1.
std::optional<double> exposure(const std::string& report) {
  const std::string marker = "Overall exposure level for ";
  const auto at = report.find(marker);
  if (at == std::string::npos) return std::nullopt;
  const auto colon = report.find(": ", at);
  if (colon == std::string::npos) return std::nullopt;
  return std::stod(report.substr(colon + 2));
}

// The package, made once for the whole run by cpack from this build tree.
struct Package {
  test::TempDir dir;
  fs::path deb;
  test::CommandResult cpack;
  Package() {
    cpack = test::run("cpack -G DEB -B " + quote(dir.path()) + " --config " +
                      quote(kBuildDir / "CPackConfig.cmake"));
    for (const auto& entry : fs::directory_iterator(dir.path())) {
      if (entry.path().extension() == ".deb") deb = entry.path();
    }
  }
};
const Package& package() {
  static Package p;
  BOOST_REQUIRE_MESSAGE(!p.deb.empty(), "cpack made no package:\n" + p.cpack.out + p.cpack.err);
  return p;
}

std::string deb_field(const std::string& field) {
  const auto r = test::run("dpkg-deb -f " + quote(package().deb) + " " + field);
  BOOST_REQUIRE(r.exit_code == 0);
  return r.out.substr(0, r.out.find_last_not_of('\n') + 1);
}

// The paths of the non-directory entries in the package ("./usr/bin/edocgw" → "/usr/bin/edocgw").
std::set<std::string> deb_files() {
  const auto r = test::run("dpkg-deb --contents " + quote(package().deb));
  BOOST_REQUIRE(r.exit_code == 0);
  std::set<std::string> files;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string mode, owner, size, date, time, path;
    fields >> mode >> owner >> size >> date >> time >> path;
    if (!mode.empty() && mode[0] != 'd') files.insert(path.substr(1));
  }
  return files;
}

struct stat stat_of(const fs::path& p) {
  struct stat st {};
  BOOST_REQUIRE_MESSAGE(::stat(p.c_str(), &st) == 0, "no " + p.string());
  return st;
}

// The numeric id in field 3 of NAME's line in an /etc/passwd or /etc/group.
std::optional<unsigned> id_in(const fs::path& file, const std::string& name) {
  std::istringstream lines(test::read(file));
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name + ":", 0) != 0) continue;
    std::istringstream fields(line);
    std::string field;
    for (int i = 0; i < 3; ++i) std::getline(fields, field, ':');
    return static_cast<unsigned>(std::stoul(field));
  }
  return std::nullopt;
}

// An empty dpkg database under `root`, for dpkg --root.
void make_dpkg_root(const fs::path& root) {
  for (const char* dir : {"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"}) {
    fs::create_directories(root / dir);
  }
  test::write(root / "var/lib/dpkg/status", "");
  test::write(root / "var/lib/dpkg/available", "");
}

// The maintainer scripts chown to the new user: installing needs root.
bool can_install() {
  if (::geteuid() == 0) return true;
  BOOST_TEST_MESSAGE("SKIPPED: installing into a scratch root needs root (the postinst chowns)");
  return false;
}

// dpkg acting on `root` and running the maintainer scripts outside a chroot
// with DPKG_ROOT set (the dependencies are the host's, not the root's).
test::CommandResult dpkg_in(const fs::path& root, const std::string& action) {
  return test::run("dpkg --root=" + quote(root) +
                   " --force-script-chrootless --force-depends --log=/dev/null " + action);
}

}  // namespace

BOOST_AUTO_TEST_CASE(both_units_pass_systemd_analyze_verify_without_a_word) {
  if (!test::have("systemd-analyze")) {
    BOOST_TEST_MESSAGE("SKIPPED: systemd-analyze is not installed (Debian package systemd)");
    return;
  }
  // verify looks Documentation=man:edocgw(8) up with man (man-db).
  std::string man_check;
  if (!test::have("man")) {
    BOOST_TEST_MESSAGE("man is not installed (Debian package man-db): Documentation= unchecked");
    man_check = " --man=no";
  }
  test::TempDir dir;
  for (const char* unit : kUnits) {
    stage_unit(dir.path(), unit);
    const auto r = test::run("cd " + quote(dir.path()) + " && MANPATH=" + quote(dir / "man") +
                             " systemd-analyze verify" + man_check + " ./" + unit);
    BOOST_TEST(r.exit_code == 0, unit << ": " << r.err);
    BOOST_TEST(r.out + r.err == "", unit << " draws remarks: " << r.out << r.err);
  }
}

BOOST_AUTO_TEST_CASE(both_units_keep_their_sandbox_by_systemd_analyze_security) {
  if (!test::have("systemd-analyze")) {
    BOOST_TEST_MESSAGE("SKIPPED: systemd-analyze is not installed (Debian package systemd)");
    return;
  }
  test::TempDir dir;
  for (const char* unit : kUnits) {
    stage_unit(dir.path(), unit);
    const auto r = test::run("cd " + quote(dir.path()) + " && systemd-analyze security " +
                             "--offline=true --no-pager ./" + unit);
    BOOST_TEST_REQUIRE(r.exit_code == 0, unit << ": " << r.err);
    const auto score = exposure(r.out);
    BOOST_TEST_REQUIRE(score.has_value(), unit << ": no score in\n" << r.out);
    BOOST_TEST_MESSAGE(unit << ": systemd-analyze security exposure " << *score);
    BOOST_TEST(*score <= kMaxExposure, unit << ": exposure " << *score << " > " << kMaxExposure);
    // What issue 13 names, one by one: these weigh too little to move the
    // score on their own.
    for (const char* passed :
         {"✓ ProtectSystem=", "✓ NoNewPrivileges=", "✓ PrivateTmp=", "✓ User=/DynamicUser=",
          "✓ CapabilityBoundingSet=~CAP_SYS_ADMIN", "✓ CapabilityBoundingSet=~CAP_NET_ADMIN",
          "✓ CapabilityBoundingSet=~CAP_(DAC_*|FOWNER|IPC_OWNER)",
          "✓ RestrictAddressFamilies=~AF_PACKET", "✓ RestrictAddressFamilies=~AF_NETLINK",
          "✓ SystemCallFilter=~@privileged", "✓ SystemCallFilter=~@resources",
          "✓ SystemCallFilter=~@mount", "✓ MemoryDenyWriteExecute=", "✓ ProtectHome=",
          "✓ PrivateDevices=", "✓ ProtectKernelTunables=", "✓ ProtectProc="}) {
      BOOST_TEST(r.out.find(passed) != std::string::npos, unit << " lacks " << passed);
    }
  }
}

BOOST_AUTO_TEST_CASE(the_units_run_edocgw_as_its_own_user_with_check_before_start_and_reload) {
  const std::string unit = test::read(kUnitDir / "edocgw.service");
  for (const char* line : {"Type=notify\n", "User=edocgw\n", "Group=edocgw\n",
                           "ExecStartPre=/usr/bin/edocgw config check /etc/edocgw/gateway.xml\n",
                           "ExecStart=/usr/bin/edocgw serve --config /etc/edocgw/gateway.xml\n",
                           "ExecReload=/usr/bin/edocgw config check /etc/edocgw/gateway.xml\n",
                           "ExecReload=/bin/kill -HUP $MAINPID\n", "StateDirectory=edocgw\n",
                           "ReadWritePaths=/var/lib/edocgw\n", "CapabilityBoundingSet=\n",
                           "SystemCallFilter=@system-service\n",
                           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX\n"}) {
    BOOST_TEST(unit.find(line) != std::string::npos, "edocgw.service lacks " << line);
  }
  const std::string instance = test::read(kUnitDir / "edocgw@.service");
  for (const char* line : {"ExecStart=/usr/bin/edocgw serve --config /etc/edocgw/%i.xml\n",
                           "StateDirectory=edocgw-%i\n", "ReadWritePaths=/var/lib/edocgw-%i\n"}) {
    BOOST_TEST(instance.find(line) != std::string::npos, "edocgw@.service lacks " << line);
  }
}

BOOST_AUTO_TEST_CASE(the_package_holds_exactly_the_binary_units_man_page_config_and_user) {
  BOOST_TEST(deb_field("Package") == "edocgw");
  BOOST_TEST(deb_field("Version") == EDOCGW_VERSION);
  BOOST_TEST(deb_field("Section") == "admin");
  const std::set<std::string> expected = {
      "/usr/bin/edocgw",
      "/lib/systemd/system/edocgw.service",
      "/lib/systemd/system/edocgw@.service",
      "/usr/share/man/man8/edocgw.8.gz",
      "/etc/edocgw/gateway.xml",
      "/usr/lib/sysusers.d/edocgw.conf",
      "/usr/lib/tmpfiles.d/edocgw.conf",
      "/usr/share/doc/edocgw/copyright",
  };
  const auto files = deb_files();
  for (const auto& file : expected) {
    BOOST_TEST(files.count(file) == 1u, "the package lacks " << file);
  }
  for (const auto& file : files) {
    BOOST_TEST(expected.count(file) == 1u, "the package has " << file << ", not expected");
  }

  const auto conffiles = test::run("dpkg-deb -I " + quote(package().deb) + " conffiles");
  BOOST_TEST(conffiles.out == "/etc/edocgw/gateway.xml\n");
  for (const char* script : {"postinst", "prerm", "postrm"}) {
    BOOST_TEST(test::run("dpkg-deb -I " + quote(package().deb) + " " + script).exit_code == 0,
               "no " << script);
  }
}

BOOST_AUTO_TEST_CASE(the_package_depends_on_the_shared_libraries_it_links) {
  const std::string depends = deb_field("Depends");
  BOOST_TEST_MESSAGE("Depends: " << depends);
  for (const char* library : {"libc6 ", "libstdc++6 ", "libssl3 ", "libxml2 ", "libxmlsec1 ",
                              "libxmlsec1-openssl ", "libsqlite3-0 ", "libcurl4 ", "libpq5 ",
                              "libqpdf29 ", "libsystemd0", "systemd | adduser"}) {
    BOOST_TEST(depends.find(library) != std::string::npos, "Depends lacks " << library);
  }
}

BOOST_AUTO_TEST_CASE(installed_into_a_scratch_root_it_makes_its_user_data_dir_and_private_etc) {
  if (!can_install()) return;
  test::TempDir dir;
  const fs::path root = dir / "root";
  make_dpkg_root(root);
  const auto install = dpkg_in(root, "-i " + quote(package().deb));
  BOOST_TEST_REQUIRE(install.exit_code == 0, install.out << install.err);
  BOOST_TEST(install.out.find("systemctl enable --now edocgw") != std::string::npos,
             "postinst says what to do next");

  for (const char* file : {"usr/bin/edocgw", "lib/systemd/system/edocgw.service",
                           "lib/systemd/system/edocgw@.service", "usr/share/man/man8/edocgw.8.gz",
                           "usr/lib/sysusers.d/edocgw.conf", "usr/lib/tmpfiles.d/edocgw.conf"}) {
    BOOST_TEST(fs::is_regular_file(root / file), "no " << file);
  }

  // The user (sysusers.d, written under the root) and its data-dir.
  const auto uid = id_in(root / "etc/passwd", "edocgw");
  const auto gid = id_in(root / "etc/group", "edocgw");
  BOOST_TEST_REQUIRE(uid.has_value(), "no user edocgw in " << root / "etc/passwd");
  BOOST_TEST_REQUIRE(gid.has_value(), "no group edocgw in " << root / "etc/group");
  BOOST_TEST(test::read(root / "etc/passwd").find(":/var/lib/edocgw:/usr/sbin/nologin\n") !=
             std::string::npos);
  const auto data = stat_of(root / "var/lib/edocgw");
  BOOST_TEST(S_ISDIR(data.st_mode));
  BOOST_TEST(data.st_uid == *uid);
  BOOST_TEST(data.st_gid == *gid);
  BOOST_TEST((data.st_mode & 07777) == 0750u);

  // /etc/edocgw will hold the key: root and the daemon's group only.
  const auto etc = stat_of(root / "etc/edocgw");
  BOOST_TEST(etc.st_uid == 0u);
  BOOST_TEST(etc.st_gid == *gid);
  BOOST_TEST((etc.st_mode & 07777) == 0750u);
  const auto config = stat_of(root / "etc/edocgw/gateway.xml");
  BOOST_TEST(config.st_gid == *gid);
  BOOST_TEST((config.st_mode & 07777) == 0640u);

  // The installed binary runs, and judges its sample configuration as a
  // first start would: the identity and anchors it names are missing.
  const auto version = test::run(quote(root / "usr/bin/edocgw") + " --version");
  BOOST_TEST(version.exit_code == 0, version.err);
  BOOST_TEST(version.out.rfind(std::string("edocgw ") + EDOCGW_VERSION, 0) == 0, version.out);
  const auto check = test::run(quote(root / "usr/bin/edocgw") + " config check " +
                               quote(root / "etc/edocgw/gateway.xml"));
  BOOST_TEST(check.exit_code == 1, check.err);
  BOOST_TEST(check.err.find("gateway.xml:") != std::string::npos, check.err);
  BOOST_TEST(check.err.find("no such file") != std::string::npos, check.err);
}

BOOST_AUTO_TEST_CASE(an_upgrade_keeps_the_administrators_permissions_and_purge_keeps_the_data) {
  if (!can_install()) return;
  test::TempDir dir;
  const fs::path root = dir / "root";
  make_dpkg_root(root);
  BOOST_TEST_REQUIRE(dpkg_in(root, "-i " + quote(package().deb)).exit_code == 0);

  // Reinstalling runs the postinst as an upgrade: what the administrator
  // has set on /etc/edocgw since stays.
  fs::permissions(root / "etc/edocgw", fs::perms::owner_all | fs::perms::group_read |
                                           fs::perms::group_exec | fs::perms::others_exec);
  const auto again = dpkg_in(root, "-i " + quote(package().deb));
  BOOST_TEST_REQUIRE(again.exit_code == 0, again.err);
  BOOST_TEST((stat_of(root / "etc/edocgw").st_mode & 07777) == 0751u);

  // Purge: the program, units and configuration go; the records and the user stay.
  fs::create_directories(root / "etc/systemd/system/multi-user.target.wants");
  fs::create_symlink("/lib/systemd/system/edocgw.service",
                     root / "etc/systemd/system/multi-user.target.wants/edocgw.service");
  test::write(root / "var/lib/edocgw/edocgw.sqlite", "records");
  const auto purge = dpkg_in(root, "--purge edocgw");
  BOOST_TEST_REQUIRE(purge.exit_code == 0, purge.err);
  BOOST_TEST(!fs::exists(root / "usr/bin/edocgw"));
  BOOST_TEST(!fs::exists(root / "lib/systemd/system/edocgw.service"));
  BOOST_TEST(!fs::exists(root / "etc/edocgw/gateway.xml"));
  BOOST_TEST(!fs::is_symlink(root / "etc/systemd/system/multi-user.target.wants/edocgw.service"));
  BOOST_TEST(test::read(root / "var/lib/edocgw/edocgw.sqlite") == "records");
  BOOST_TEST(id_in(root / "etc/passwd", "edocgw").has_value());
}
