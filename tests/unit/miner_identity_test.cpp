// SPDX-License-Identifier: GPL-2.0-only
// YARA scans naming the miner: the shipped rules, user rules, the bounds.
#include "mxwatch/enrich/miner_identity.hpp"

#include <cstdlib>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <unistd.h>

namespace mxwatch {
namespace {

struct TempFile {
	explicit TempFile(const std::string &content)
	{
		char name[] = "/tmp/mxw-yara-XXXXXX";
		const int fd = mkstemp(name);
		path = name;
		EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
		close(fd);
	}
	~TempFile() { std::filesystem::remove(path); }
	int open_fd() const { return ::open(path.c_str(), O_RDONLY | O_CLOEXEC); }
	std::string path;
};

std::optional<std::vector<MinerMatch>> scan(MinerIdentifier &identifier, const std::string &path)
{
	const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
	auto result = identifier.scan_fd(fd);
	close(fd);
	return result;
}

// Bytes of a binary with XMRig's banner and option help, padded like code.
const std::string kXmrigLike = std::string(4096, '\x90') + " * ABOUT        XMRig/6.26.0 gcc/12.2.0\n" +
			       std::string(100, '\0') + std::string("--donate-level=N\0rx/0\0stratum+tcp://pool:3333", 45) +
			       std::string(4096, '\xcc');

TEST(MinerIdentity, ShippedRulesNameXmrig)
{
	auto identifier = MinerIdentifier::load({});
	EXPECT_GE(identifier->rule_count(), 4u);
	TempFile file(kXmrigLike);
	const auto matches = scan(*identifier, file.path);
	ASSERT_TRUE(matches);
	ASSERT_EQ(matches->size(), 1u);
	EXPECT_EQ(matches->front(), (MinerMatch{"mxwatch_xmrig", "XMRig"}));
}

TEST(MinerIdentity, TheGenericRuleOnlyWhenNoOtherMatches)
{
	auto identifier = MinerIdentifier::load({});
	const std::string login = R"({"id":1,"jsonrpc":"2.0","method":"login","params":{"agent":"x","algo":["rx/0"]}})";
	TempFile unknown(std::string(64, '\0') + login);
	auto matches = scan(*identifier, unknown.path);
	ASSERT_TRUE(matches);
	ASSERT_EQ(matches->size(), 1u);
	EXPECT_EQ(matches->front().software, "unknown Monero miner");
	EXPECT_TRUE(matches->front().generic);
	TempFile both(kXmrigLike + login);
	matches = scan(*identifier, both.path);
	ASSERT_TRUE(matches);
	ASSERT_EQ(matches->size(), 1u);
	EXPECT_EQ(matches->front().software, "XMRig");
}

TEST(MinerIdentity, OneMinerWordIsNotAMatch)
{
	auto identifier = MinerIdentifier::load({});
	TempFile mentions("a wiki page about xmrig and stratum+tcp:// pools");
	EXPECT_EQ(scan(*identifier, mentions.path), std::optional<std::vector<MinerMatch>>(std::vector<MinerMatch>{}));
	for (const char *benign : {"/bin/true", "/bin/sh", "/usr/bin/env"})
		if (std::filesystem::exists(benign))
			EXPECT_EQ(scan(*identifier, benign)->size(), 0u) << benign;
}

TEST(MinerIdentity, UserRulesAddToTheShippedOnes)
{
	TempFile rules("rule acme_miner { meta: software = \"ACME miner\" strings: $a = \"acme-hash-v1\" condition: $a }\n");
	auto identifier = MinerIdentifier::load({rules.path});
	TempFile file("....acme-hash-v1....");
	const auto matches = scan(*identifier, file.path);
	ASSERT_TRUE(matches);
	ASSERT_EQ(matches->size(), 1u);
	EXPECT_EQ(matches->front().software, "ACME miner");
	auto user_only = MinerIdentifier::load({rules.path}, false);
	EXPECT_EQ(user_only->rule_count(), 1u);
}

TEST(MinerIdentity, MalformedRulesFileIsOneLineWithItsPlace)
{
	TempFile rules("rule broken {\n  strings: $a = \"x\"\n  condition: $a and\n}\n");
	try {
		MinerIdentifier::load({rules.path});
		FAIL() << "compiled";
	} catch (const std::runtime_error &e) {
		const std::string what = e.what();
		EXPECT_EQ(what.find('\n'), std::string::npos);
		EXPECT_EQ(what.rfind(rules.path + ":4: ", 0), 0u) << what;
	}
	EXPECT_THROW(MinerIdentifier::load({"/nonexistent/rules.yar"}), std::runtime_error);
}

TEST(MinerIdentity, LargeFilesAreSkippedAndCounted)
{
	ScanLimits limits;
	limits.max_bytes = 1024;
	auto identifier = MinerIdentifier::load({}, true, limits);
	TempFile file(kXmrigLike); // > 1 KiB
	EXPECT_EQ(scan(*identifier, file.path), std::nullopt);
	EXPECT_EQ(identifier->scan_fd(-1), std::nullopt); // not a file
	EXPECT_EQ(identifier->counts().skipped, 2u);
	EXPECT_EQ(identifier->counts().scanned, 0u);
}

TEST(MinerIdentity, EachExecutableIsScannedOncePerHash)
{
	auto identifier = MinerIdentifier::load({});
	TempFile file(kXmrigLike);
	const auto exe = ExecutableFile::open_path(file.path);
	ASSERT_TRUE(exe);
	for (int i = 0; i < 3; i++) {
		const auto matches = identifier->identify(*exe, "feedface");
		ASSERT_TRUE(matches);
		EXPECT_EQ(matches->size(), 1u);
	}
	EXPECT_EQ(identifier->counts().scanned, 1u);
	EXPECT_EQ(identifier->counts().cache_hits, 2u);
}

} // namespace
} // namespace mxwatch
