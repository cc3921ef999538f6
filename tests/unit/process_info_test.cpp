// SPDX-License-Identifier: GPL-2.0-only
// Enrichment from /proc: a fake /proc tree for exact values, and real child
// processes for what only the kernel can show (deleted binaries, long argv).
#include "mxwatch/enrich/process_info.hpp"

#include <csignal>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <iterator>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace mxwatch {
namespace {

namespace fs = std::filesystem;

class TempTree {
public:
	TempTree()
	{
		std::string pattern = (fs::temp_directory_path() / "mxwatch-proc-XXXXXX").string();
		if (!mkdtemp(pattern.data()))
			throw std::runtime_error("mkdtemp");
		root_ = pattern;
	}
	~TempTree() { fs::remove_all(root_); }
	fs::path path(const std::string &name) const { return root_ / name; }
	void write(const std::string &name, const std::string &content) const
	{
		fs::create_directories(path(name).parent_path());
		std::ofstream(path(name), std::ios::binary) << content;
	}
	std::string root() const { return root_.string(); }

private:
	fs::path root_;
};

std::string file_bytes(const std::string &path)
{
	std::ifstream in(path, std::ios::binary);
	return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A child that runs `argv` and is killed at the end of the test.
class Child {
public:
	explicit Child(std::vector<std::string> argv)
	{
		pid_ = fork();
		if (pid_ == 0) {
			std::vector<char *> args;
			for (auto &a : argv)
				args.push_back(a.data());
			args.push_back(nullptr);
			execv(args[0], args.data());
			_exit(127);
		}
		// The exec is done once /proc shows the new exe and its arguments
		// (the kernel sets the exe link before it copies the arguments).
		const auto self = fs::read_symlink("/proc/self/exe");
		const std::string dir = "/proc/" + std::to_string(pid_);
		for (int i = 0; i < 400; i++) {
			std::error_code ec;
			const auto exe = fs::read_symlink(dir + "/exe", ec);
			if (!ec && exe != self && file_bytes(dir + "/cmdline").starts_with(argv[0]))
				break;
			std::this_thread::sleep_for(std::chrono::milliseconds(5));
		}
	}

	~Child()
	{
		kill(pid_, SIGKILL);
		waitpid(pid_, nullptr, 0);
	}
	std::uint32_t pid() const { return static_cast<std::uint32_t>(pid_); }

private:
	pid_t pid_;
};

TEST(ProcessInfo, ReadsEverythingFromAProcTree)
{
	TempTree proc;
	proc.write("stat", "cpu  1 2 3\ncpu0 1 2 3\nintr 5\nbtime 1700000000\nprocesses 9\n");
	// A comm with spaces and parentheses must not shift the fields.
	proc.write("77/stat", "77 (a) b (c) S 1 77 77 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 12345 1000 100 "
	                      "18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n");
	proc.write("77/status",
	           "Name:\tminer\nUmask:\t0022\nState:\tS\nPPid:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n");
	proc.write("77/cmdline", std::string("./xmrig\0-o\0pool:3333\0", 21));
	proc.write("77/cgroup",
	           "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod4a0f8c2e_7b1d_4e55_"
	           "9c3a_2f6d8e1b0a97.slice/cri-containerd-"
	           "3f4ad5d2e5c1b8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d.scope\n");
	const ProcessInfo info = read_process_info(77, proc.root());
	EXPECT_EQ(info.pid, 77u);
	EXPECT_FALSE(info.executable.has_value()); // no exe link in the fake tree: left out
	EXPECT_EQ(info.args, (std::vector<std::string>{"./xmrig", "-o", "pool:3333"}));
	EXPECT_FALSE(info.args_truncated);
	EXPECT_EQ(info.uid, 0u);
	EXPECT_EQ(info.user_name, "root");
	EXPECT_EQ(info.parent_pid, 1u);
	const long tps = sysconf(_SC_CLK_TCK);
	const auto expected_start = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000)) +
	                            std::chrono::milliseconds(12345 * 1000 / tps);
	EXPECT_EQ(info.start_time, expected_start);
	ASSERT_TRUE(info.container.has_value());
	EXPECT_EQ(info.container->pod_uid, "4a0f8c2e-7b1d-4e55-9c3a-2f6d8e1b0a97");
	EXPECT_EQ(info.container->runtime, "containerd");
}

TEST(ProcessInfo, AGoneProcessYieldsOnlyItsPid)
{
	TempTree proc;
	const ProcessInfo info = read_process_info(123, proc.root());
	EXPECT_EQ(info.pid, 123u);
	EXPECT_FALSE(info.executable || info.uid || info.parent_pid || info.start_time || info.container);
	EXPECT_TRUE(info.args.empty());
}

TEST(ProcessInfo, StartTimeToleratesHostileComm)
{
	EXPECT_EQ(process_start_time("1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 100 0", 1000, 100),
	          std::chrono::system_clock::time_point(std::chrono::seconds(1001)));
	EXPECT_FALSE(process_start_time("1 (x) S 1 2 3", 1000, 100).has_value()); // too short
	EXPECT_FALSE(process_start_time("no paren at all", 1000, 100).has_value());
	EXPECT_FALSE(process_start_time("", 1000, 100).has_value());
}

TEST(ProcessInfo, ReadsTheLiveProcess)
{
	const ProcessInfo self = read_process_info(static_cast<std::uint32_t>(getpid()));
	EXPECT_EQ(self.executable, fs::read_symlink("/proc/self/exe").string());
	ASSERT_FALSE(self.args.empty());
	EXPECT_EQ(self.uid, getuid());
	EXPECT_EQ(self.parent_pid, static_cast<std::uint32_t>(getppid()));
	ASSERT_TRUE(self.start_time.has_value());
	const auto now = std::chrono::system_clock::now();
	EXPECT_LE(*self.start_time, now + std::chrono::seconds(2));
	EXPECT_GT(*self.start_time, now - std::chrono::hours(24));
	EXPECT_TRUE(self.executable_file != nullptr);
}

TEST(ProcessInfo, CommandLineIsBounded)
{
	// sh -c ignores the arguments after its script's $0: any length will do.
	Child child({"/bin/sh", "-c", "sleep 30", "sh", std::string(3000, 'a'), std::string(3000, 'b')});
	const ProcessInfo info = read_process_info(child.pid());
	EXPECT_TRUE(info.args_truncated);
	std::size_t total = 0;
	for (const auto &arg : info.args)
		total += arg.size() + 1;
	EXPECT_LE(total, kMaxCmdlineBytes + 1);
	EXPECT_EQ(info.args.at(4), std::string(3000, 'a'));
}

TEST(ExecutableHash, HashesTheRunningBinaryEvenAfterItWasDeletedAndReplaced)
{
	TempTree dir;
	const std::string exe = dir.path("miner").string();
	fs::copy_file("/bin/sleep", exe);
	fs::permissions(exe, fs::perms::owner_all);
	const std::string original = sha256_hex(file_bytes(exe));
	ASSERT_EQ(original.size(), 64u);

	Child child({exe, "30"});
	ProcessInfo info = read_process_info(child.pid());
	ASSERT_EQ(info.executable, exe);
	// The dropper hides: the file is deleted and another put in its place.
	fs::remove(exe);
	dir.write("miner", "#!/bin/sh\necho innocent\n");
	ASSERT_NE(sha256_hex(file_bytes(exe)), original);

	ExecutableHasher hasher;
	complete_process_info(info, hasher);
	EXPECT_EQ(info.sha256, original);
	// Read again now, /proc says what happened, and the hash is still the binary's.
	ProcessInfo later = read_process_info(child.pid());
	EXPECT_EQ(later.executable, exe + " (deleted)");
	complete_process_info(later, hasher);
	EXPECT_EQ(later.sha256, original);
}

TEST(ExecutableHash, IsBoundedInSizeAndTime)
{
	auto file = ExecutableFile::open_path("/bin/sleep");
	ASSERT_TRUE(file);
	ExecutableHasher too_small({.max_bytes = 10});
	EXPECT_FALSE(too_small.sha256(*file).has_value());
	ExecutableHasher no_time({.max_time = std::chrono::milliseconds(0)});
	EXPECT_FALSE(no_time.sha256(*file).has_value());
	ExecutableHasher normal;
	EXPECT_EQ(normal.sha256(*file), sha256_hex(file_bytes("/bin/sleep")));
	// Another process of the same binary costs no read.
	auto again = ExecutableFile::open_path("/bin/sleep");
	EXPECT_EQ(normal.sha256(*again), normal.sha256(*file));
	EXPECT_EQ(normal.files_hashed(), 1u);
	EXPECT_EQ(sha256_hex("test"), "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
}

TEST(ExecutableHash, OpenFilesAreBounded)
{
	std::vector<std::shared_ptr<const ExecutableFile>> open;
	for (int i = 0; i < ExecutableFile::kMaxOpen + 10; i++)
		if (auto f = ExecutableFile::open_path("/bin/sleep"))
			open.push_back(f);
	EXPECT_LE(open.size(), static_cast<std::size_t>(ExecutableFile::kMaxOpen));
	open.clear();
	EXPECT_TRUE(ExecutableFile::open_path("/bin/sleep") != nullptr);  // closing frees the slots
	EXPECT_FALSE(ExecutableFile::open_path("/proc/self") != nullptr); // not a regular file
}

} // namespace
} // namespace mxwatch
