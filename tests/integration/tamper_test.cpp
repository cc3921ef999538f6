// SPDX-License-Identifier: GPL-2.0-only
// A root attacker against a running `mxwatch run`, with the tools root has:
// Debian's bpftool on mxwatch's own link and maps, and a process that maps the
// ring buffer's consumer page (tests/workloads/ringbuf_skip.c). Each attempt is
// either refused by the kernel (and mxwatch still alerts on a real miner
// afterwards), or noticed: mxwatch logs the error and exits non-zero, so that
// systemd restarts it. What root can do beyond this is in docs/security.md.
#include "peers.hpp" // MXW_REQUIRE_PEER

#include <csignal>
#include <fmt/format.h>
#include <fstream>
#include <map>
#include <sstream>

namespace mxwatch::test
{
namespace
{

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::optional<std::string> bpftool_unavailable()
{
	for (const char *path : {"/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool"})
		if (access(path, X_OK) == 0)
			return std::nullopt;
	return "bpftool is not installed (apt-get install bpftool, see scripts/install-deps.sh)";
}

std::string bpftool()
{
	for (const char *path : {"/usr/sbin/bpftool", "/usr/bin/bpftool", "/sbin/bpftool"})
		if (access(path, X_OK) == 0)
			return path;
	return "bpftool";
}

struct Outcome {
	int status = -1;
	std::string output; // stdout and stderr
};

Outcome run(const std::vector<std::string> &argv, const fs::path &log)
{
	Child child(argv, {.stdout_path = log.string(), .stderr_path = log.string() + ".err"});
	const auto status = child.wait(60s);
	return {status.value_or(-1), read_text(log) + read_text(log.string() + ".err")};
}

// One BPF object a process holds, from /proc/PID/fdinfo.
struct BpfObject {
	std::map<std::string, std::string> fields; // "map_id" -> "42", "map_type" -> "27", ...
	std::string get(const std::string &key) const
	{
		const auto it = fields.find(key);
		return it == fields.end() ? std::string() : it->second;
	}
};

// Every BPF map and link the process holds a descriptor for.
std::vector<BpfObject> bpf_objects(pid_t pid)
{
	std::vector<BpfObject> out;
	const fs::path fdinfo = fs::path("/proc") / std::to_string(pid) / "fdinfo";
	for (const auto &entry : fs::directory_iterator(fdinfo)) {
		std::istringstream lines(read_text(entry.path()));
		BpfObject object;
		for (std::string line; std::getline(lines, line);) {
			const auto colon = line.find(':');
			if (colon == std::string::npos)
				continue;
			std::string value = line.substr(colon + 1);
			value.erase(0, value.find_first_not_of(" \t"));
			object.fields[line.substr(0, colon)] = value;
		}
		if (object.fields.count("map_id") || object.fields.count("link_id"))
			out.push_back(std::move(object));
	}
	return out;
}

// The map's name as the kernel knows it (bpftool map show id N --json).
std::string map_name(const std::string &id, const fs::path &log)
{
	const Outcome shown = run({bpftool(), "--json", "map", "show", "id", id}, log);
	const auto json = nlohmann::json::parse(read_text(log), nullptr, false);
	return json.is_object() && json.contains("name") ? json["name"].get<std::string>() : shown.output;
}

std::vector<std::string> zero_bytes(std::size_t n)
{
	return std::vector<std::string>(n, "0");
}

class RunningDaemon
{
public:
	explicit RunningDaemon(const TempDir &tmp)
	    : tmp_(tmp), alerts_(tmp.path("alerts.jsonl")),
	      daemon_({mxwatch_binary(), "--sink", "file:" + alerts_.string(), "run"},
	              {.stdout_path = tmp.path("out").string(), .stderr_path = tmp.path("err.log").string()})
	{
	}
	bool attached() { return wait_for_text(tmp_.path("err.log"), "watching;", 60s); }
	pid_t pid() const { return daemon_.pid(); }
	std::string log() const { return read_text(tmp_.path("err.log")); }
	Child &child() { return daemon_; }
	// A real RandomX miner started now is alerted (the daemon is not blind).
	bool alerts_on_a_miner()
	{
		Child miner({workload("mxw-randomx"), "--seconds", "30"}, {.stdout_path = "/dev/null"});
		const bool alerted = wait_for_alert(alerts_, miner.pid(), false, 60s).has_value();
		miner.signal(SIGKILL);
		miner.wait(10s);
		return alerted;
	}

private:
	const TempDir &tmp_;
	fs::path alerts_;
	Child daemon_;
};

TEST(Tamper, BpftoolCanNeitherDetachTheLinkNorRewriteTheMaps)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(bpftool_unavailable());
	TempDir tmp;
	RunningDaemon daemon(tmp);
	ASSERT_TRUE(daemon.attached()) << daemon.log();

	const auto objects = bpf_objects(daemon.pid());
	int links = 0, maps = 0, attempt = 0;
	auto log = [&] { return tmp.path(fmt::format("bpftool-{}", ++attempt)); };
	for (const auto &object : objects) {
		if (!object.get("link_id").empty()) {
			// tp_btf and raw_tp links have no detach operation in the kernel.
			const Outcome detach = run({bpftool(), "link", "detach", "id", object.get("link_id")}, log());
			EXPECT_NE(detach.status, 0) << detach.output;
			EXPECT_NE(detach.output.find("Operation not supported"), std::string::npos) << detach.output;
			std::printf("bpftool link detach id %s (link type %s): %s", object.get("link_id").c_str(),
			            object.get("link_type").c_str(), detach.output.c_str());
			links++;
			continue;
		}
		const std::string id = object.get("map_id");
		const std::string name = map_name(id, log());
		const std::size_t key_size = std::stoul(object.get("key_size"));
		const std::size_t value_size = std::stoul(object.get("value_size"));
		if (name == "events")
			continue; // the ring buffer: no update operation (the next test moves its consumer page)
		maps++;
		// Zero the entry (the settings in .rodata, the follow counts in .bss, a
		// thread's counts, a process's budget, the counters).
		std::vector<std::string> argv = {bpftool(), "map", "update", "id", id, "key"};
		for (const auto &b : zero_bytes(key_size))
			argv.push_back(b);
		argv.push_back("value");
		for (const auto &b : zero_bytes(value_size))
			argv.push_back(b);
		const Outcome update = run(argv, log());
		EXPECT_NE(update.status, 0) << name << ": " << update.output;
		EXPECT_NE(update.output.find("Operation not permitted"), std::string::npos)
		    << name << ": " << update.output;
		std::printf("bpftool map update id %s (%s): %s", id.c_str(), name.c_str(), update.output.c_str());
		if (name == "tracked" || name == "budgets") {
			std::vector<std::string> del = {bpftool(), "map", "delete", "id", id, "key"};
			for (const auto &b : zero_bytes(key_size))
				del.push_back(b);
			const Outcome deleted = run(del, log());
			EXPECT_NE(deleted.status, 0) << name << ": " << deleted.output;
			EXPECT_NE(deleted.output.find("Operation not permitted"), std::string::npos) << deleted.output;
			std::printf("bpftool map delete id %s (%s): %s", id.c_str(), name.c_str(),
			            deleted.output.c_str());
		}
	}
	EXPECT_EQ(links, 3); // x86_fpu_regs_deactivated, sched_process_exit, sched_process_exec
	EXPECT_EQ(maps, 5);  // .rodata, .bss, tracked, budgets, counters

	// Still attached, still seeing: a miner started now is alerted.
	EXPECT_TRUE(daemon.alerts_on_a_miner()) << daemon.log();
	EXPECT_FALSE(daemon.child().wait(0ms).has_value()) << "mxwatch exited: " << daemon.log();
	daemon.child().signal(SIGTERM);
	EXPECT_EQ(daemon.child().wait(30s), 0) << daemon.log();
}

TEST(Tamper, RecordsSkippedThroughTheRingBuffersConsumerPageAreNoticed)
{
	MXW_REQUIRE_PRIVILEGED();
	TempDir tmp;
	RunningDaemon daemon(tmp);
	ASSERT_TRUE(daemon.attached()) << daemon.log();
	std::string ring;
	for (const auto &object : bpf_objects(daemon.pid()))
		if (object.get("map_type") == "27") // BPF_MAP_TYPE_RINGBUF
			ring = object.get("map_id");
	ASSERT_FALSE(ring.empty()) << "no ring buffer among mxwatch's descriptors";

	// A miner makes records flow; the attacker skips them before mxwatch reads them.
	Child miner({workload("mxw-randomx"), "--seconds", "40"}, {.stdout_path = "/dev/null"});
	Child attacker({workload("mxw-ringbuf-skip"), ring, "30"}, {.stdout_path = tmp.path("attacker.out").string(),
	                                                            .stderr_path = tmp.path("attacker.err").string()});
	// Noticed at the next health check (every 5 s): an error, and exit status 1.
	const auto status = daemon.child().wait(60s);
	attacker.signal(SIGTERM);
	attacker.wait(10s);
	miner.signal(SIGKILL);
	miner.wait(10s);
	ASSERT_TRUE(status.has_value()) << "mxwatch did not notice: " << daemon.log()
	                                << read_text(tmp.path("attacker.err"));
	EXPECT_EQ(*status, 3) << daemon.log(); // kExitBlind: systemd restarts it
	const std::string log = daemon.log();
	EXPECT_NE(log.find("another process moved the BPF ring buffer's consumer position"), std::string::npos) << log;
	EXPECT_NE(log.find("mxwatch was blind"), std::string::npos) << log;
	std::printf("ring-buffer consumer moved by another process: %s",
	            log.substr(log.find("another process moved")).substr(0, 200).c_str());
	std::printf("\n");
}

} // namespace
} // namespace mxwatch::test
