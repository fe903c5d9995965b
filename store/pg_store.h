// store/pg_store.h: the shared engine: PostgreSQL (15 or later) for rows and
// package bytes alike, so that N gateways of one organisation (or N hub
// nodes) can work from one database. Contract: store/store.h.
//
// - Package bytes are a bytea column of `packages`, committed before the
//   log record that names them ("postgresql/ID") and before the rows that
//   use them (store.h's order). purge() sets a body to NULL (and purged_at)
//   instead of removing a file.
// - Deliveries are leased with SELECT ... FOR UPDATE SKIP LOCKED: a leased
//   recipient's next_attempt_at moves to now + lease and leased_by to
//   node_id, so a node that dies loses its work when the lease expires.
// - Polls are leased per source (poll_leases: one row per adapter name,
//   the node holding it and until when): lease_poll() takes a free or
//   expired lease or renews this node's, in one statement.
// - Duplicates are refused by unique constraints, which hold across nodes:
//   idempotency (client, key), one accepted copy of an incoming package
//   (inbox_once), one original per outgoing DocumentId.
// - Schema: a version in schema_version; open() applies missing migrations
//   in one transaction under an advisory lock (two nodes starting at once do
//   not race) and refuses a newer version with Errc::unsupported.
// - Writes share a group commit: one leader at a time runs a batch of
//   queued writes: commits the batch's package bytes in one transaction,
//   then runs the rows in another (a savepoint per caller), appends the log
//   records of the packages kept, syncs the log once, then commits the rows.
//   A kill between the two commits leaves bodies no row names: nothing
//   lists them, and purge() empties them.
// - Connections: a bounded pool (pool_size); a connection found lost is
//   dropped and a new one opened. A statement outside a transaction is run
//   again once on a fresh connection when the old one was lost; a batch is
//   run again when the server rolled it back (deadlock, serialization
//   failure) or the connection was lost before COMMIT was sent.
//
// Thread safety: every method may be called from any number of threads at
// once; each call blocks on the network.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "store/store.h"

namespace edocgw::store {

struct PgOptions {
  // A libpq connection string ("host=... port=... dbname=... user=...") or URI.
  std::string dsn;
  std::chrono::seconds connect_timeout{10};
  // Flushes the signature log that LogRecord functions append to; empty:
  // nothing to flush.
  LogSync log_sync;
  // Connections kept open at most (at least 1; one of them writes).
  int pool_size = 8;
  // Who holds leases (recipients.leased_by); empty: HOSTNAME:PID.
  std::string node_id;
};

// Connects, creates or migrates the schema and returns the engine.
// Errc::io when the server cannot be reached; Errc::unsupported when the
// database was made by a newer edocgw; Errc::usage for a bad DSN or options.
Result<std::unique_ptr<Store>> open_pg_store(const PgOptions& options);

// The schema version this build writes (schema_version.version).
inline constexpr int kPgSchemaVersion = 2;

}  // namespace edocgw::store
