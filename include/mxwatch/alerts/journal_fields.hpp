// SPDX-License-Identifier: GPL-2.0-only
// The native journald fields of an alert. Pure, so the encoding is unit-tested
// and fuzzed apart from libsystemd (journald_sink.cpp sends them with sd_journal_sendv).
//
//   MESSAGE            the alert sentence
//   MESSAGE_ID         kJournalMessageId, the same for every mxwatch alert
//   PRIORITY           2 (crit) while a miner runs, 5 (notice) when it is gone
//   SYSLOG_IDENTIFIER  mxwatch
//   MXWATCH_DOCUMENT   the alert document (ECS or OCSF JSON)
//   MXWATCH_<FIELD>    each key fact, its ECS name upper-cased with '.' as '_'
//                      (MXWATCH_PROCESS_PID, MXWATCH_CONTAINER_ID, ...)
#pragma once

#include "mxwatch/alerts/alert_format.hpp"

#include <string>
#include <string_view>
#include <vector>

namespace mxwatch {

// `journalctl MESSAGE_ID=edb8fdf2ad7e404b844fcdc35f5a8cdc` lists every mxwatch alert.
inline constexpr std::string_view kJournalMessageId = "edb8fdf2ad7e404b844fcdc35f5a8cdc";

// "NAME=value" entries. Values may hold newlines and any bytes: the native
// protocol carries them length-prefixed, nothing is escaped or lost.
std::vector<std::string> journal_fields(const RenderedAlert &alert);

// "process.hash.sha256" -> "MXWATCH_PROCESS_HASH_SHA256"; anything outside
// [A-Z0-9_] becomes '_' so that journald never rejects the entry.
std::string journal_field_name(std::string_view ecs_name);

} // namespace mxwatch
