// store/sqlite_store.h: the embedded engine: SQLite rows (WAL,
// synchronous=FULL, schema version in user_version) and the segment archive
// (store/segment_archive.h) for package bytes, under one data-dir. Writes
// share a group commit: one archive write + fdatasync for the batch's
// bodies, its signature-log records and one log sync, then one SQLite
// transaction with a savepoint per caller. Leases on due deliveries are
// kept in memory, not in the rows: the archive's lock keeps every other
// process off the data-dir, so no lease can matter beyond the process that
// took it. Contract: store/store.h.
#pragma once

#include <filesystem>
#include <memory>

#include "store/store.h"

namespace edocgw::store {

struct SqliteOptions {
  // The size a segment file grows to before the next one starts.
  std::uint64_t segment_bytes = 256ull << 20;
  // Flushes the signature log that LogRecord functions append to; empty:
  // nothing to flush (tools that write no package).
  LogSync log_sync;
};

// Opens DATA_DIR/edocgw.sqlite (creating and migrating it) and
// DATA_DIR/segments (whose lock keeps a second process off the data-dir).
Result<std::unique_ptr<Store>> open_sqlite_store(const std::filesystem::path& data_dir,
                                                 SqliteOptions options = {});

}  // namespace edocgw::store
