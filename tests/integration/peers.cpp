// SPDX-License-Identifier: GPL-2.0-only
#include "peers.hpp"

#include <arpa/inet.h>
#include <csignal>
#include <fmt/format.h>
#include <fstream>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <systemd/sd-journal.h>
#include <thread>
#include <unistd.h>

namespace mxwatch::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::optional<std::string> find_program(const std::vector<std::string> &candidates)
{
	for (const auto &path : candidates)
		if (access(path.c_str(), X_OK) == 0)
			return path;
	return std::nullopt;
}

bool tcp_accepts(int port)
{
	const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sockaddr_in addr{};
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = htons(static_cast<std::uint16_t>(port));
	const bool ok = connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof(addr)) == 0;
	close(fd);
	return ok;
}

const std::vector<std::string> kRsyslogd = {"/usr/sbin/rsyslogd", "/sbin/rsyslogd"};
const std::vector<std::string> kJournald = {"/lib/systemd/systemd-journald", "/usr/lib/systemd/systemd-journald"};

// One JSON object per message, each property JSON-escaped by rsyslog itself.
// mmpstrucdata parses the structured data into $!rfc5424-sd (unescaping values).
std::string rsyslog_config(const fs::path &dir, int udp_port, int tcp_port, int relp_port)
{
	std::string fields;
	bool first = true;
	for (const auto &[out, property] : std::vector<std::pair<std::string, std::string>>{
	         {"input", "inputname"},
	         {"protocol_version", "protocol-version"},
	         {"pri", "pri"},
	         {"timestamp", "timereported:::date-rfc3339"},
	         {"hostname", "hostname"},
	         {"app_name", "app-name"},
	         {"procid", "procid"},
	         {"msgid", "msgid"},
	         {"structured_data", "structured-data"},
	         {"msg", "msg"},
	         {"sd", "$!rfc5424-sd"},
	     }) {
		const auto colon = property.find(':');
		const std::string name = property.substr(0, colon);
		const std::string date = colon == std::string::npos ? "" : " dateFormat=\"rfc3339\"";
		fields +=
		    fmt::format("  constant(value=\"{}\\\"{}\\\":\\\"\")\n  property(name=\"{}\" format=\"json\"{})\n",
		                first ? "{" : "\\\",", out, name, date);
		first = false;
	}
	return fmt::format(R"(global(workDirectory="{dir}" maxMessageSize="64k")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{dir}/log.sock" UseSpecialParser="off" ParseHostname="on")
module(load="imudp")
input(type="imudp" address="127.0.0.1" port="{udp}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{tcp}")
{relp}module(load="mmpstrucdata")
template(name="mxwatch_test" type="list") {{
{fields}  constant(value="\"}}\n")
}}
action(type="mmpstrucdata")
action(type="omfile" file="{dir}/received.jsonl" template="mxwatch_test")
)",
	                   fmt::arg("dir", dir.string()), fmt::arg("udp", udp_port), fmt::arg("tcp", tcp_port),
	                   fmt::arg("relp", relp_port == 0 ? std::string()
	                                                   : fmt::format(R"(module(load="imrelp")
input(type="imrelp" address="127.0.0.1" port="{}")
)",
	                                                                 relp_port)),
	                   fmt::arg("fields", fields));
}

} // namespace

std::optional<std::string> RsyslogPeer::unavailable()
{
	if (!find_program(kRsyslogd))
		return "rsyslogd is not installed (apt-get install rsyslog, see scripts/install-deps.sh)";
	return std::nullopt;
}

std::optional<std::string> RsyslogPeer::relp_unavailable()
{
	if (auto why = unavailable())
		return why;
	for (const char *dir :
	     {"/usr/lib/x86_64-linux-gnu/rsyslog", "/usr/lib/aarch64-linux-gnu/rsyslog", "/usr/lib/rsyslog"})
		if (fs::exists(fs::path(dir) / "imrelp.so"))
			return std::nullopt;
	return "rsyslog's imrelp is not installed (apt-get install rsyslog-relp, see scripts/install-deps.sh)";
}

RsyslogPeer::RsyslogPeer(const fs::path &dir, bool relp) : dir_(dir)
{
	fs::create_directories(dir_);
	udp_port_ = free_port(SOCK_DGRAM);
	tcp_port_ = free_port(SOCK_STREAM);
	if (relp)
		relp_port_ = free_port(SOCK_STREAM);
	std::ofstream(dir_ / "rsyslog.conf") << rsyslog_config(dir_, udp_port_, tcp_port_, relp_port_);
	start();
}

void RsyslogPeer::start()
{
	if (daemon_)
		return;
	daemon_ = std::make_unique<Child>(std::vector<std::string>{*find_program(kRsyslogd), "-n", "-f",
	                                                           (dir_ / "rsyslog.conf").string(), "-i",
	                                                           (dir_ / "rsyslogd.pid").string()},
	                                  SpawnOptions{.stdout_path = (dir_ / "rsyslogd.log").string(),
	                                               .stderr_path = (dir_ / "rsyslogd.err").string()});
	if (!wait_until(
	        [&] {
		        return fs::exists(unix_socket()) && tcp_accepts(tcp_port_) &&
		               (relp_port_ == 0 || tcp_accepts(relp_port_));
	        },
	        20s))
		throw std::runtime_error("rsyslogd did not start: " + log());
}

void RsyslogPeer::stop()
{
	if (!daemon_)
		return;
	daemon_->signal(SIGTERM);
	daemon_->wait(10s); // else the Child destructor kills it
	daemon_.reset();
}

RsyslogPeer::~RsyslogPeer()
{
	stop();
}

std::vector<nlohmann::json> RsyslogPeer::received(std::size_t count, std::chrono::milliseconds timeout) const
{
	std::vector<nlohmann::json> messages;
	wait_until(
	    [&] {
		    messages.clear();
		    std::istringstream lines(read_text(dir_ / "received.jsonl"));
		    std::string line;
		    while (std::getline(lines, line))
			    messages.push_back(nlohmann::json::parse(line)); // rsyslog's own JSON must parse too
		    return messages.size() >= count;
	    },
	    timeout);
	return messages;
}

std::string RsyslogPeer::log() const
{
	return read_text(dir_ / "rsyslogd.log") + read_text(dir_ / "rsyslogd.err");
}

std::optional<std::string> PrivateJournal::unavailable()
{
	if (geteuid() != 0)
		return "a private systemd-journald needs root (mount namespace)";
	if (!find_program(kJournald))
		return "systemd-journald is not installed (apt-get install systemd)";
	if (!find_program({"/usr/bin/unshare"}) || !find_program({"/usr/bin/nsenter"}))
		return "unshare and nsenter (util-linux) are missing";
	return std::nullopt;
}

PrivateJournal::PrivateJournal(const fs::path &dir) : dir_(dir)
{
	fs::create_directories(dir_ / "store");
	// In its own mount namespace, journald gets an empty /run (its sockets) with
	// the test's directory as /run/log/journal (its files), and a throw-away
	// /var/log/journal: nothing of the host's journal setup is touched.
	const std::string script = R"(set -e
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal /run/log/journal
mount --bind "$1" /run/log/journal
if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
exec "$2"
)";
	journald_ = std::make_unique<Child>(
	    std::vector<std::string>{"/usr/bin/unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script,
	                             "sh", (dir_ / "store").string(), *find_program(kJournald)},
	    SpawnOptions{.stdout_path = (dir_ / "journald.log").string(),
	                 .stderr_path = (dir_ / "journald.err").string()});
	// /proc/PID/root resolves paths in that process's mount namespace.
	const std::string socket = "/proc/" + std::to_string(journald_->pid()) + "/root/run/systemd/journal/socket";
	if (!wait_until([&] { return fs::exists(socket); }, 20s))
		throw std::runtime_error("systemd-journald did not start: " + log());
}

PrivateJournal::~PrivateJournal()
{
	if (journald_) {
		journald_->signal(SIGTERM);
		journald_->wait(10s);
	}
}

std::vector<std::string> PrivateJournal::inside(const std::vector<std::string> &argv) const
{
	std::vector<std::string> out{"/usr/bin/nsenter",
	                             "--mount=/proc/" + std::to_string(journald_->pid()) + "/ns/mnt", "--"};
	out.insert(out.end(), argv.begin(), argv.end());
	return out;
}

std::vector<JournalEntry> PrivateJournal::stop_and_read(const std::string &match)
{
	journald_->signal(SIGTERM); // journald syncs its files before it exits
	if (!journald_->wait(10s))
		throw std::runtime_error("systemd-journald did not stop");
	journald_.reset();

	std::vector<JournalEntry> entries;
	// journald writes into <store>/<machine-id>/.
	for (const auto &machine : fs::directory_iterator(dir_ / "store")) {
		sd_journal *journal = nullptr;
		if (sd_journal_open_directory(&journal, machine.path().c_str(), 0) < 0)
			continue;
		sd_journal_add_match(journal, match.data(), match.size());
		SD_JOURNAL_FOREACH(journal)
		{
			JournalEntry entry;
			const void *data = nullptr;
			size_t length = 0;
			SD_JOURNAL_FOREACH_DATA(journal, data, length)
			{
				const std::string field(static_cast<const char *>(data), length);
				const auto eq = field.find('=');
				if (eq != std::string::npos)
					entry[field.substr(0, eq)] = field.substr(eq + 1);
			}
			entries.push_back(std::move(entry));
		}
		sd_journal_close(journal);
	}
	return entries;
}

std::string PrivateJournal::log() const
{
	return read_text(dir_ / "journald.log") + read_text(dir_ / "journald.err");
}

} // namespace mxwatch::test
