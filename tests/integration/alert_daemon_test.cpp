// SPDX-License-Identifier: GPL-2.0-only
// `mxwatch run` end to end with enrichment and real sinks: real RandomX in a
// cgroup shaped like a Kubernetes container, and a process whose every name is
// hostile, seen by the real BPF program and delivered to stdout, a file,
// rsyslog and a private journald.
#include "../unit/alert_samples.hpp"
#include "../unit/rfc5424_parser.hpp"
#include "peers.hpp"

#include "mxwatch/alerts/journal_fields.hpp"
#include "mxwatch/alerts/syslog_message.hpp"
#include "mxwatch/util/utf8.hpp"

#include <algorithm>
#include <csignal>
#include <fstream>
#include <iterator>
#include <sstream>
#include <sys/mount.h>
#include <thread>
#include <unistd.h>

namespace mxwatch::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const std::string kTestPodUid = "5c2a1f3e-9d8b-4e7a-a6c1-0b2d3e4f5a6b";
const std::string kTestContainerId = "c0ffee00d15ea5e5c0ffee00d15ea5e5c0ffee00d15ea5e5c0ffee00d15ea5e5";

std::string file_bytes(const fs::path &path)
{
	std::ifstream in(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A cgroup v2 directory shaped like a kubelet's (systemd driver, containerd):
// kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid_>.slice/
// cri-containerd-<id>.scope, under the host's cgroup2 mount (on a hybrid host
// /sys/fs/cgroup/unified), or under a cgroup2 mounted for the test. Removed at
// the end, once its processes are gone.
class KubernetesCgroup {
public:
	KubernetesCgroup()
	{
		root_ = cgroup2_mount();
		if (root_.empty()) {
			mounted_ = fs::temp_directory_path() / ("mxwatch-cgroup2-" + std::to_string(getpid()));
			fs::create_directories(mounted_);
			if (mount("none", mounted_.c_str(), "cgroup2", 0, nullptr) != 0)
				throw std::runtime_error("cannot mount cgroup2");
			root_ = mounted_;
		}
		std::string systemd_uid = kTestPodUid;
		std::replace(systemd_uid.begin(), systemd_uid.end(), '-', '_');
		for (const std::string &level :
		     {std::string("kubepods.slice"), std::string("kubepods-besteffort.slice"),
		      "kubepods-besteffort-pod" + systemd_uid + ".slice",
		      "cri-containerd-" + kTestContainerId + ".scope"}) {
			dirs_.push_back((dirs_.empty() ? root_ : dirs_.back()) / level);
			fs::create_directory(dirs_.back());
		}
	}

	~KubernetesCgroup()
	{
		// A killed process leaves its cgroup a moment after it is reaped.
		for (auto it = dirs_.rbegin(); it != dirs_.rend(); ++it)
			for (int i = 0; i < 100 && rmdir(it->c_str()) != 0 && errno == EBUSY; i++)
				std::this_thread::sleep_for(50ms);
		if (!mounted_.empty()) {
			umount(mounted_.c_str());
			fs::remove(mounted_);
		}
	}

	// argv started inside the container cgroup, before its exec.
	std::vector<std::string> wrap(const std::vector<std::string> &argv) const
	{
		std::vector<std::string> out{"/bin/sh", "-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\"",
		                             dirs_.back().string()};
		out.insert(out.end(), argv.begin(), argv.end());
		return out;
	}

private:
	static fs::path cgroup2_mount()
	{
		std::ifstream mountinfo("/proc/self/mountinfo");
		for (std::string line; std::getline(mountinfo, line);) {
			if (line.find(" - cgroup2 ") == std::string::npos)
				continue;
			std::istringstream fields(line);
			std::string id, parent, devno, root, mount_point;
			fields >> id >> parent >> devno >> root >> mount_point;
			if (root == "/")
				return mount_point;
		}
		return {};
	}

	fs::path root_;
	fs::path mounted_;
	std::vector<fs::path> dirs_;
};

class KubernetesPod : public ::testing::TestWithParam<std::string> {
};

TEST_P(KubernetesPod, RealRandomxAlertCarriesContainerAndPod)
{
	MXW_REQUIRE_PRIVILEGED();
	const bool ocsf = GetParam() == "ocsf";
	TempDir tmp;
	KubernetesCgroup cgroup;
	Child daemon(
	    {mxwatch_binary(), "--format", GetParam(), "--sink", "file:" + tmp.path("alerts.jsonl").string(), "run"},
	    {.stdout_path = tmp.path("out"), .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", 60s)) << read_text(tmp.path("err.log"));

	const std::string randomx = workload("mxw-randomx");
	Child miner(cgroup.wrap({randomx, "--seconds", "60"}), {.stdout_path = "/dev/null"});
	const auto alert = wait_for_alert(tmp.path("alerts.jsonl"), miner.pid(), ocsf, 60s, true);
	miner.signal(SIGKILL);
	miner.wait(10s);
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(tmp.path("err.log"));
	ASSERT_TRUE(alert.has_value()) << read_text(tmp.path("err.log")) << read_text(tmp.path("alerts.jsonl"));
	SCOPED_TRACE(alert->dump(2));

	const std::string sha256 = sha256_hex(file_bytes(randomx));
	const std::string self = fs::read_symlink("/proc/self/exe").string();
	if (!ocsf) {
		const auto &a = *alert;
		EXPECT_EQ(a["container"]["id"], kTestContainerId);
		EXPECT_EQ(a["container"]["runtime"], "containerd");
		EXPECT_EQ(a["orchestrator"]["type"], "kubernetes");
		EXPECT_EQ(a["orchestrator"]["resource"]["type"], "pod");
		EXPECT_EQ(a["orchestrator"]["resource"]["id"], kTestPodUid);
		EXPECT_EQ(a["process"]["executable"], randomx);
		EXPECT_EQ(a["process"]["hash"]["sha256"], sha256);
		EXPECT_EQ(a["process"]["name"], "mxw-randomx");
		EXPECT_EQ(a["process"]["args"], nlohmann::json({randomx, "--seconds", "60"}));
		EXPECT_EQ(a["process"]["parent"]["pid"], getpid()); // sh exec'd the miner: its parent is us
		EXPECT_EQ(a["process"]["parent"]["executable"], self);
		EXPECT_TRUE(a["process"]["entity_id"].get<std::string>().find("-" + std::to_string(miner.pid()) +
		                                                              "-") != std::string::npos);
		EXPECT_TRUE(a["process"].contains("start"));
		EXPECT_EQ(a["user"]["id"], "0");
		EXPECT_EQ(a["user"]["name"], "root");
	} else {
		const auto &f = *alert;
		EXPECT_EQ(f["class_uid"], 2004);
		EXPECT_EQ(f["type_uid"], 200401);
		EXPECT_EQ(f["metadata"]["version"], kOcsfVersion);
		const auto &p = f["evidences"][0]["process"];
		EXPECT_EQ(p["container"]["uid"], kTestContainerId);
		EXPECT_EQ(p["container"]["runtime"], "containerd");
		EXPECT_EQ(p["container"]["pod_uuid"], kTestPodUid);
		EXPECT_EQ(p["file"]["path"], randomx);
		EXPECT_EQ(p["file"]["hashes"][0]["value"], sha256);
		EXPECT_EQ(p["parent_process"]["pid"], getpid());
		EXPECT_EQ(p["user"]["name"], "root");
		EXPECT_EQ(f["finding_info"]["uid"], p["uid"]);
	}
}

INSTANTIATE_TEST_SUITE_P(Formats, KubernetesPod, ::testing::Values("ecs", "ocsf"),
                         [](const auto &info) { return info.param; });

bool printable(const std::string &s)
{
	for (unsigned char c : s)
		if (c < 0x20 || c == 0x7F)
			return false;
	return true;
}

TEST(HostileProcess, NamesGiveValidJsonRfc5424AndJournalEntries)
{
	MXW_REQUIRE_PRIVILEGED();
	MXW_REQUIRE_PEER(RsyslogPeer::unavailable());
	MXW_REQUIRE_PEER(PrivateJournal::unavailable());
	TempDir tmp;
	RsyslogPeer rsyslog(tmp.path("rsyslog"));
	PrivateJournal journal(tmp.path("journal"));

	// A file name may hold anything but '/' and NUL; the kernel's comm is its first 15 bytes.
	const std::string name = "x\"m]n\\e\nr\r\t\x01\x1b[2J\x7f\xc2\x85\xff\xfe\x80 \xc3\xa9";
	const std::string comm = name.substr(0, 15);
	const fs::path exe = tmp.path(name);
	fs::copy_file(workload("mxw-cfround"), exe);
	fs::permissions(exe, fs::perms::owner_all);
	const std::vector<std::string> argv = {exe.string(), "--pool=\"]\\\n\r\x01\xff{\"evil\":1}", "--seconds", "40"};

	Child daemon(
	    journal.inside({mxwatch_binary(), "--sink", "stdout", "--sink", "file:" + tmp.path("alerts.jsonl").string(),
	                    "--sink", rsyslog.unix_sink(), "--sink", "journald", "run"}),
	    {.stdout_path = tmp.path("stdout.jsonl"), .stderr_path = tmp.path("err.log")});
	ASSERT_TRUE(wait_for_text(tmp.path("err.log"), "attached", 60s)) << read_text(tmp.path("err.log"));
	Child miner(argv, {.stdout_path = "/dev/null"});
	const auto alert = wait_for_alert(tmp.path("stdout.jsonl"), miner.pid(), false, 60s, true);
	miner.signal(SIGKILL);
	miner.wait(10s);
	daemon.signal(SIGTERM);
	ASSERT_EQ(daemon.wait(30s), 0) << read_text(tmp.path("err.log"));
	ASSERT_TRUE(alert.has_value()) << read_text(tmp.path("err.log"));
	const std::string event_id = (*alert)["event"]["id"];

	// JSON (stdout): every line parsed in first_alert; the names are the process's
	// own, with only the invalid UTF-8 replaced.
	const auto &p = (*alert)["process"];
	EXPECT_EQ(p["name"], valid_utf8(comm));
	EXPECT_EQ(p["executable"], valid_utf8(exe.string()));
	ASSERT_EQ(p["args"].size(), argv.size());
	for (std::size_t i = 0; i < argv.size(); i++)
		EXPECT_EQ(p["args"][i], valid_utf8(argv[i])) << i;
	EXPECT_TRUE(printable((*alert)["message"]));

	// The file sink got the very same line.
	std::string stdout_line, file_line;
	for (const auto &[path, out] :
	     {std::pair{tmp.path("stdout.jsonl"), &stdout_line}, std::pair{tmp.path("alerts.jsonl"), &file_line}}) {
		std::istringstream lines(read_text(path));
		for (std::string line; std::getline(lines, line);)
			if (line.find(event_id) != std::string::npos)
				*out = line;
	}
	ASSERT_FALSE(stdout_line.empty());
	EXPECT_EQ(file_line, stdout_line);

	// RFC 5424, as rsyslog parsed it and as our strict parser does.
	std::optional<nlohmann::json> received;
	for (const auto &m : rsyslog.received(1, 20s))
		if (m["msg"].get<std::string>().find(event_id) != std::string::npos)
			received = m;
	ASSERT_TRUE(received.has_value()) << rsyslog.log();
	EXPECT_EQ((*received)["protocol_version"], "1");
	EXPECT_EQ((*received)["msg"], stdout_line);
	const auto sd = nlohmann::json::parse((*received)["sd"].get<std::string>())[std::string(kSyslogSdId)];
	EXPECT_EQ(sd["process.name"], printable_utf8(comm));
	EXPECT_EQ(sd["process.executable"], printable_utf8(exe.string()));
	const auto strict = parse_rfc5424("<26>1 - h a p m " + (*received)["structured_data"].get<std::string>());
	ASSERT_TRUE(strict.has_value()) << (*received)["structured_data"];
	EXPECT_EQ(*strict->param("process.name"), printable_utf8(comm));

	// journald: native fields, byte for byte, read back with sd-journal.
	daemon.wait(1s);
	std::optional<JournalEntry> entry;
	for (const auto &e : journal.stop_and_read("MXWATCH_EVENT_ID=" + event_id))
		entry = e;
	ASSERT_TRUE(entry.has_value()) << journal.log();
	EXPECT_EQ((*entry)["MESSAGE_ID"], kJournalMessageId);
	// The priority follows the alert's severity (docs/detection.md): alert for critical, crit for high.
	const std::string severity = nlohmann::json::parse(stdout_line)["mxwatch"]["severity"];
	EXPECT_EQ((*entry)["PRIORITY"], severity == "critical" ? "1" : "2") << severity;
	EXPECT_EQ((*entry)["MXWATCH_PROCESS_NAME"], valid_utf8(comm));
	EXPECT_EQ((*entry)["MXWATCH_PROCESS_EXECUTABLE"], valid_utf8(exe.string()));
	EXPECT_EQ((*entry)["MXWATCH_DOCUMENT"], stdout_line);
	EXPECT_TRUE(printable((*entry)["MESSAGE"]));
}

} // namespace
} // namespace mxwatch::test
