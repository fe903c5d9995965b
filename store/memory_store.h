// store/memory_store.h: the in-memory engine, a fake of the storage contract
// (store/store.h) for in-process tests of the pipeline and the APIs: the
// same observable rules as the embedded engine (duplicates, idempotency
// keys, leases, status ordering, document states, retention of bodies no
// work needs), rows and package bytes in memory, nothing kept across its
// own destruction. Package bytes are named "memory/ID" (ID: the document,
// inbox or hub package id they are stored as) in the LogRecord of the write
// that carries them; MemoryOptions::log_sync runs after those records and
// before the rows become visible, as the durable engines do.
//
// Faults: a test decides, per call, that a write fails before it does
// anything (Errc::io, nothing stored) or after it happened (Errc::io though
// the rows are there: the acknowledgement lost, which the contract allows),
// or that a read fails.
//
// Thread-safety: every method may be called from any number of threads at
// once (one mutex); LogRecord, LogSync and the fault functions are called
// without it held, so they may call the store; MemoryOptions::clock is
// called with it held and must not.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "store/store.h"

namespace edocgw::store {

// What a write asked of MemoryOptions::fail_writes does.
enum class WriteFault {
  none,
  before,  // Errc::io and nothing happens (no LogRecord call either)
  after,   // the write happens as a whole, then answers Errc::io
};

struct MemoryOptions {
  // Makes the LogRecord calls of a write durable; empty: nothing to flush.
  LogSync log_sync;
  // Asked before every write with the method's name ("submit", "add_inbox",
  // "record_delivery", "lease_due_deliveries", "purge", ...); empty: no fault.
  std::function<WriteFault(std::string_view method)> fail_writes;
  // Asked before every read ("document", "inbox", "read_package", "ping",
  // ...); true: that read answers Errc::io. Both may be called from
  // several threads at once.
  std::function<bool(std::string_view method)> fail_reads;
  // Seconds since the epoch for the times the engine stamps itself
  // (created_at, updated_at, a new recipient's first attempt, a body's
  // storage time for purge()); empty: the system clock.
  std::function<std::int64_t()> clock;
};

// Never fails today; a Result like the other engines' factories.
Result<std::unique_ptr<Store>> open_memory_store(MemoryOptions options = {});

}  // namespace edocgw::store
