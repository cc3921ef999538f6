// SPDX-License-Identifier: GPL-2.0-only
// The configuration file: CLI11's TOML config through mxwatch's own options.
#include "mxwatch/cli/cli.hpp"

#include <filesystem>
#include <fstream>
#include <gtest/gtest.h>
#include <regex>
#include <sstream>
#include <unistd.h>

namespace mxwatch {
namespace {

class ConfigFile : public ::testing::Test {
protected:
	void SetUp() override
	{
		dir_ = std::filesystem::temp_directory_path() /
		       ("mxwatch-config-test-" + std::to_string(getpid()) + "-" +
			::testing::UnitTest::GetInstance()->current_test_info()->name());
		std::filesystem::create_directories(dir_);
	}
	void TearDown() override { std::filesystem::remove_all(dir_); }

	std::string write(const std::string &text)
	{
		const auto path = dir_ / "mxwatch.toml";
		std::ofstream(path) << text;
		return path;
	}

	std::filesystem::path dir_;
};

std::unique_ptr<CommandLine> parse(std::vector<std::string> args)
{
	args.insert(args.begin(), "mxwatch");
	return parse_command_line(args);
}

std::string dump(const CommandLine &cli) { return cli.app->config_to_str(true, true); }

std::string read_file(const std::string &path)
{
	std::ifstream in(path);
	std::stringstream text;
	text << in.rdbuf();
	return text.str();
}

TEST_F(ConfigFile, SetsEveryKindOfOption)
{
	const auto file = write("attach = \"raw_tp\"\n"
				"ring-buffer-kib = 256\n"
				"sampling-floor-hz = 0\n"
				"false-alarm = 1e-9\n"
				"allow-exe = [\"/usr/bin/monerod\", \"/opt/xmr/p2pool\"]\n"
				"allow-user = [\"1000\"]\n"
				"sink = [\"journald\", \"file:/var/log/mxwatch/alerts.json\"]\n"
				"format = \"ocsf\"\n"
				"verbose = 2\n");
	const auto cli = parse({"--config", file, "run"});
	EXPECT_EQ(cli->command, "run");
	EXPECT_EQ(cli->common.config_file, file);
	EXPECT_EQ(cli->common.attach, "raw_tp");
	EXPECT_EQ(cli->common.ring_buffer_kib, 256u);
	EXPECT_EQ(cli->common.sampling_floor_hz, 0u);
	EXPECT_DOUBLE_EQ(cli->common.detection.false_alarm, 1e-9);
	EXPECT_EQ(cli->common.detection.allowlist.executables,
		  (std::vector<std::string>{"/usr/bin/monerod", "/opt/xmr/p2pool"}));
	EXPECT_EQ(cli->common.detection.allowlist.users, std::vector<std::string>{"1000"});
	EXPECT_EQ(cli->common.output.sinks,
		  (std::vector<std::string>{"journald", "file:/var/log/mxwatch/alerts.json"}));
	EXPECT_EQ(cli->common.output.format, "ocsf");
	EXPECT_EQ(cli->common.verbosity, 2);
}

TEST_F(ConfigFile, CommandLineWinsOverTheFile)
{
	const auto file = write("attach = \"raw_tp\"\nsink = [\"journald\"]\n");
	const auto cli = parse({"--config", file, "--attach", "tp_btf", "--sink", "stdout", "run"});
	EXPECT_EQ(cli->common.attach, "tp_btf");
	EXPECT_EQ(cli->common.output.sinks, std::vector<std::string>{"stdout"});
}

TEST_F(ConfigFile, UnknownKeyIsRejectedByName)
{
	const auto file = write("attach = \"auto\"\nsampling-flor-hz = 20\n");
	try {
		parse({"--config", file, "run"});
		FAIL() << "an unknown key was accepted";
	} catch (const CLI::ConfigError &e) {
		EXPECT_EQ(std::string(e.what()), file + ": unknown key 'sampling-flor-hz'");
	}
}

TEST_F(ConfigFile, BadValueNamesTheOption)
{
	const auto file = write("attach = \"kprobe\"\n");
	try {
		parse({"--config", file, "run"});
		FAIL() << "a bad value was accepted";
	} catch (const CLI::ParseError &e) {
		EXPECT_NE(std::string(e.what()).find("--attach"), std::string::npos) << e.what();
	}
}

TEST_F(ConfigFile, CommandOptionsAreNotConfigurable)
{
	const auto file = write("[check]\nduration = 5\n");
	EXPECT_THROW(parse({"--config", file, "check"}), CLI::ParseError);
}

TEST_F(ConfigFile, MissingFileIsAnError)
{
	EXPECT_THROW(parse({"--config", (dir_ / "absent.toml").string(), "run"}), CLI::FileError);
}

TEST_F(ConfigFile, GarbageIsAnErrorNotACrash)
{
	std::string garbage = "\xff\xfe\x01 = = [[[\n\"unterminated\n[section\nkey = \"\x80\x81\"\n";
	garbage += std::string(4096, '\0');
	const auto file = write(garbage);
	EXPECT_THROW(parse({"--config", file, "run"}), CLI::ParseError);
}

TEST_F(ConfigFile, EmptyListMeansNothing)
{
	const auto file = write("allow-exe = []\nsink = [ ]  # stdout then\n");
	const auto cli = parse({"--config", file, "run"});
	EXPECT_TRUE(cli->common.detection.allowlist.executables.empty());
	EXPECT_TRUE(cli->common.output.sinks.empty());
}

TEST_F(ConfigFile, DumpReadsBackToTheSameConfiguration)
{
	const auto file = write("window = 120\nallow-container = [\"0123456789abcdef\"]\nformat = \"ocsf\"\n");
	const auto first = parse({"--config", file, "--sink", "journald", "--dump-config"});
	EXPECT_TRUE(first->dump_config);
	const std::string text = dump(*first);
	EXPECT_NE(text.find("window=120"), std::string::npos) << text;
	EXPECT_NE(text.find("allow-exe=[]"), std::string::npos) << text;
	EXPECT_EQ(text.find("dump-config"), std::string::npos) << text;

	const auto again_file = (dir_ / "dumped.toml").string();
	std::ofstream(again_file) << text;
	const auto again = parse({"--config", again_file, "run"});
	EXPECT_EQ(dump(*again), text);
	EXPECT_DOUBLE_EQ(again->common.detection.window_s, 120);
	EXPECT_EQ(again->common.output.sinks, std::vector<std::string>{"journald"});
	EXPECT_EQ(again->common.detection.allowlist.containers, std::vector<std::string>{"0123456789abcdef"});
}

TEST_F(ConfigFile, ContainerLookupsAreOnByDefaultAndCanBeTurnedOff)
{
	EXPECT_TRUE(parse({"run"})->common.containers.enabled);
	EXPECT_FALSE(parse({"--no-container-lookups", "run"})->common.containers.enabled);
	const auto off = parse({"--config", write("container-lookups = false\npodman-socket = \"\"\n"), "run"});
	EXPECT_FALSE(off->common.containers.enabled);
	EXPECT_EQ(off->common.containers.podman, "");
	EXPECT_EQ(off->common.to_pipeline_options().container_wait.count(), 0) << "nothing to wait for";
	EXPECT_FALSE(off->common.make_container_resolver());
	const auto text = dump(*off);
	EXPECT_NE(text.find("container-lookups=false"), std::string::npos) << text;
	EXPECT_NE(dump(*parse({"--dump-config"})).find("container-lookups=true"), std::string::npos);
}

// The packaged /etc/mxwatch/mxwatch.toml documents every option with its
// default: uncommenting all of it changes nothing, and no option is missing.
TEST_F(ConfigFile, PackagedDefaultDocumentsEveryOptionWithItsDefault)
{
	const std::string shipped = read_file(MXWATCH_SOURCE_DIR "/packaging/mxwatch.toml");
	ASSERT_FALSE(shipped.empty());
	EXPECT_EQ(parse({"--config", write(shipped), "--dump-config"})->app->config_to_str(true, false),
		  parse({"--dump-config"})->app->config_to_str(true, false));

	// Uncomment `#key = value` lines; where a key has examples and a default,
	// the last line (the default) wins.
	static const std::regex commented(R"(^#([a-z][a-z0-9-]*) = (.*)$)");
	std::map<std::string, std::string> values;
	std::istringstream lines(shipped);
	for (std::string line; std::getline(lines, line);) {
		std::smatch m;
		if (std::regex_match(line, m, commented))
			values[m[1]] = m[2];
	}
	std::string uncommented;
	for (const auto &[key, value] : values)
		uncommented += key + " = " + value + "\n";
	const auto defaults = parse({"--dump-config"});
	const auto from_file = parse({"--config", write(uncommented), "--dump-config"});
	EXPECT_EQ(from_file->app->config_to_str(true, false), defaults->app->config_to_str(true, false));

	for (const CLI::Option *option : defaults->app->get_options()) {
		if (!option->get_configurable() || option->get_lnames().empty() ||
		    option == defaults->app->get_config_ptr())
			continue;
		EXPECT_TRUE(values.contains(option->get_lnames().front()))
			<< option->get_lnames().front() << " is not documented in packaging/mxwatch.toml";
	}
}

} // namespace
} // namespace mxwatch
