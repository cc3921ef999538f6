// SPDX-License-Identifier: GPL-2.0-only
// Real peers for the alert sinks, each started privately by the test that needs
// it and stopped at its end, never the system's own:
//
//  - RsyslogPeer: Debian's rsyslogd with a private config, work directory, unix
//    socket and loopback UDP/TCP ports (and a RELP port, imrelp from Debian's
//    rsyslog-relp, when asked for); every message it parsed is written as
//    one JSON line (its RFC 5424 fields, and the structured data as its
//    mmpstrucdata module understood it).
//  - PrivateJournal: Debian's systemd-journald in a private mount namespace,
//    storing into a directory of the test; commands run inside that namespace
//    (nsenter) reach it at the usual /run/systemd/journal/socket, and the test
//    reads the entries back with the sd-journal API.
#pragma once

#include "harness.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace mxwatch::test {

// Skips the test when a peer cannot run here, with the reason; fails under CI=true.
#define MXW_REQUIRE_PEER(unavailable)                                                                                  \
	do {                                                                                                           \
		if (auto why = (unavailable)) {                                                                        \
			if (::mxwatch::test::running_in_ci())                                                          \
				FAIL() << "peer test cannot run under CI=true: " << *why;                              \
			GTEST_SKIP() << "skipped: " << *why;                                                           \
		}                                                                                                      \
	} while (0)

class RsyslogPeer {
public:
	static std::optional<std::string> unavailable();
	// Also why imrelp cannot run (rsyslog-relp not installed).
	static std::optional<std::string> relp_unavailable();

	// `relp`: also listen for RELP (imrelp) on a loopback port.
	explicit RsyslogPeer(const std::filesystem::path &dir, bool relp = false);
	~RsyslogPeer();
	RsyslogPeer(const RsyslogPeer &) = delete;
	RsyslogPeer &operator=(const RsyslogPeer &) = delete;

	std::string unix_socket() const { return (dir_ / "log.sock").string(); }
	std::string udp_sink() const { return "syslog:udp:127.0.0.1:" + std::to_string(udp_port_); }
	std::string tcp_sink() const { return "syslog:tcp:127.0.0.1:" + std::to_string(tcp_port_); }
	std::string unix_sink() const { return "syslog:unix:" + unix_socket(); }
	std::string relp_sink() const { return "relp:127.0.0.1:" + std::to_string(relp_port_); }
	int relp_port() const { return relp_port_; }

	// Stops rsyslogd (SIGTERM: it closes its connections cleanly and exits), and
	// starts it again on the same ports, appending to the same output.
	void stop();
	void start();

	// Every message rsyslog wrote so far, waiting until there are at least `count`.
	std::vector<nlohmann::json> received(std::size_t count, std::chrono::milliseconds timeout) const;
	std::string log() const;

private:
	std::filesystem::path dir_;
	int udp_port_ = 0;
	int tcp_port_ = 0;
	int relp_port_ = 0; // 0: no RELP
	std::unique_ptr<Child> daemon_;
};

// One journal entry: field name -> raw bytes.
using JournalEntry = std::map<std::string, std::string>;

class PrivateJournal {
public:
	static std::optional<std::string> unavailable();

	explicit PrivateJournal(const std::filesystem::path &dir);
	~PrivateJournal();
	PrivateJournal(const PrivateJournal &) = delete;
	PrivateJournal &operator=(const PrivateJournal &) = delete;

	// `argv` run inside the journal's mount namespace.
	std::vector<std::string> inside(const std::vector<std::string> &argv) const;
	// Stops journald (it writes everything out) and reads the entries that match
	// FIELD=value with sd_journal_open_directory.
	std::vector<JournalEntry> stop_and_read(const std::string &match);
	std::string log() const;

private:
	std::filesystem::path dir_;
	std::unique_ptr<Child> journald_;
};

} // namespace mxwatch::test
