// SPDX-License-Identifier: GPL-2.0-only
// RFC 5424 syslog messages for alerts. Pure, so the encoding is unit-tested and
// fuzzed apart from the sockets (syslog_sink.cpp).
//
//   <PRI>1 TIMESTAMP HOSTNAME mxwatch PROCID MSGID [mxwatch@32473 k="v" ...] MSG
//
// MSG is the alert document (pure ASCII JSON); the structured data repeats the
// key facts for receivers that index SD-PARAMs. 32473 is the private enterprise
// number RFC 5612 reserves for documentation and examples.
#pragma once

#include "mxwatch/alerts/alert_format.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mxwatch {

inline constexpr std::string_view kSyslogSdId = "mxwatch@32473";
// rsyslog's and syslog-ng's default maximum; longer messages would be cut and
// their JSON broken, so a longer alert carries its sentence instead of its document.
inline constexpr std::size_t kSyslogMaxMessageBytes = 8192;
// A single SD-PARAM value longer than this is cut (at a character boundary).
inline constexpr std::size_t kSyslogMaxParamBytes = 256;
inline constexpr int kSyslogFacilityDaemon = 3;

// The syslog severity of an alert is its AlertSeverity's (assessment.hpp):
// alert (1) critical, crit (2) high, warning (4) medium, notice (5) otherwise.
// "kern", "user", ..., "daemon", "auth", "authpriv", "local0".."local7".
std::optional<int> syslog_facility_from_string(std::string_view name);

// An SD-PARAM value: valid UTF-8 with control characters replaced by U+FFFD,
// at most `max_bytes` bytes, then '"', '\' and ']' escaped (RFC 5424 §6.3.3).
std::string escape_sd_value(std::string_view value, std::size_t max_bytes = kSyslogMaxParamBytes);

// The whole message, at most max_bytes (unless max_bytes is below what the header
// and structured data alone take).
std::string rfc5424_message(const RenderedAlert &alert, int facility, std::uint32_t procid,
                            std::size_t max_bytes = kSyslogMaxMessageBytes);

} // namespace mxwatch
