// SPDX-License-Identifier: GPL-2.0-only
// The pipeline without root or kernel: samples from memory, processes from a
// directory the test fills in, responses recorded instead of sent.
#include "mxwatch/service/pipeline.hpp"

#include "mxwatch/enrich/container_resolver.hpp"
#include "mxwatch/recording/recording_source.hpp"

#include <gtest/gtest.h>
#include <map>
#include <random>
#include <sstream>

namespace mxwatch {
namespace {

constexpr std::uint64_t kMs = 1'000'000;
constexpr std::uint64_t kS = 1'000 * kMs;

// Processes as the test says they are; "running" until the test ends them.
class TestDirectory final : public ProcessDirectory {
public:
	void add(std::uint32_t pid, std::string exe, std::optional<std::string> user = std::nullopt)
	{
		ProcessInfo info;
		info.pid = pid;
		info.executable = std::move(exe);
		info.user_name = std::move(user);
		known[pid] = info;
		alive[pid] = true;
	}
	ProcessFacts first_seen(std::uint32_t pid, std::uint64_t) override
	{
		lookups++;
		ProcessFacts facts;
		if (auto it = known.find(pid); it != known.end())
			facts.info = it->second;
		if (auto it = containers.find(pid); it != containers.end()) {
			facts.info.container = ContainerInfo{it->second->id(), it->second->runtime(), std::nullopt};
			facts.info.container_lookup = it->second;
		}
		facts.info.pid = pid;
		facts.start_ticks = pid; // stands for /proc's start time
		return facts;
	}
	std::optional<bool> running(std::uint32_t pid, const ProcessFacts &) const override
	{
		const auto it = alive.find(pid);
		return it != alive.end() && it->second;
	}
	std::shared_ptr<ExecutableHasher> hasher() const override { return nullptr; }
	bool local() const override { return true; }
	std::optional<Footprint> footprint(std::uint32_t pid, const ProcessFacts &) override
	{
		footprint_reads++;
		if (auto it = footprints.find(pid); it != footprints.end())
			return it->second;
		return std::nullopt;
	}

	std::map<std::uint32_t, Footprint> footprints;
	int footprint_reads = 0;
	std::map<std::uint32_t, ProcessInfo> known;
	std::map<std::uint32_t, bool> alive;
	// The container runtime's answer for a pid's container, settled (or not) by the test.
	std::map<std::uint32_t, std::shared_ptr<ContainerLookup>> containers;
	int lookups = 0;
};

// Keeps every published event.
class KeptOutput final : public AlertOutput {
public:
	void publish(Alert alert) override { events->push_back(std::move(alert)); }
	std::shared_ptr<std::vector<Alert>> events = std::make_shared<std::vector<Alert>>();
};

std::uint32_t csr(int mode) { return 0x9FC0u | static_cast<std::uint32_t>(mode) << 13; }

// One sample of the main thread of process (pid, process_start).
Sample one_sample(std::uint32_t pid, std::uint64_t t, int mode, std::uint64_t process_start = 7)
{
	Sample s;
	s.timestamp_ns = t;
	s.tgid = s.tid = pid;
	s.process_start_ns = process_start;
	s.mxcsr = csr(mode);
	s.comm = "worker";
	return s;
}

// CFROUND-like samples of one thread: a random mode every 10 ms.
void mine(SampleVector &source, std::uint32_t pid, std::uint64_t from_ns, std::uint64_t for_ns,
	  std::uint64_t process_start = 7)
{
	std::mt19937 random(pid);
	for (std::uint64_t t = from_ns; t < from_ns + for_ns; t += 10 * kMs)
		source.push(one_sample(pid, t, static_cast<int>(random() % 4), process_start));
}

struct Harness {
	explicit Harness(PipelineOptions options = {})
	    : pipeline(options, source, directory, [this](ResponseAction action, const ResponseTarget &target) {
		      responses.push_back({action, target});
		      if (action == ResponseAction::None)
			      return std::optional<ResponseOutcome>();
		      return std::optional<ResponseOutcome>(
			      ResponseOutcome{action, target.allowed ? ResponseResult::Skipped : ResponseResult::Applied,
					      target.allowed ? "allowlisted" : ""});
	      })
	{
		auto kept = std::make_unique<KeptOutput>();
		events = kept->events;
		pipeline.set_output(std::move(kept));
	}
	void run()
	{
		std::atomic<bool> stop{false};
		pipeline.run(stop);
	}
	std::vector<AlertStage> kinds() const
	{
		std::vector<AlertStage> out;
		for (const auto &e : *events)
			out.push_back(e.detection.stage);
		return out;
	}

	SampleVector source;
	TestDirectory directory;
	std::vector<std::pair<ResponseAction, ResponseTarget>> responses;
	Pipeline pipeline;
	std::shared_ptr<std::vector<Alert>> events;
};

TEST(Pipeline, AMinerIsAlertedOnceWithWhatTheDirectorySaid)
{
	Harness h;
	h.directory.add(42, "/opt/xmr/miner", "alice");
	mine(h.source, 42, 1 * kS, 5 * kS);
	h.run();
	ASSERT_EQ(h.kinds(), std::vector<AlertStage>{AlertStage::First});
	const Alert &e = h.events->front();
	EXPECT_EQ(e.process.executable, "/opt/xmr/miner");
	EXPECT_EQ(e.process.user_name, "alice");
	EXPECT_EQ(e.detection.key.tgid, 42u);
	EXPECT_EQ(h.directory.lookups, 1) << "the directory is asked once per process, at its first sample";
	EXPECT_EQ(h.pipeline.counts().detections[0], 1u);
	ASSERT_EQ(h.pipeline.reports().size(), 1u);
}

// A long-running daemon keeps thousands of reports: none may hold its executable
// open (every open one counts against ExecutableFile::kMaxOpen, so that later
// executables would go unhashed). The published alert keeps it for hashing.
TEST(Pipeline, ReportsHoldNoExecutableOpenThePublishedAlertDoes)
{
	Harness h;
	h.directory.add(42, "/proc/self/exe");
	h.directory.known[42].executable_file = ExecutableFile::open_path("/proc/self/exe");
	ASSERT_TRUE(h.directory.known[42].executable_file);
	mine(h.source, 42, 1 * kS, 5 * kS);
	h.run();
	ASSERT_EQ(h.pipeline.reports().size(), 1u);
	EXPECT_EQ(h.pipeline.reports().front().process.executable_file, nullptr);
	EXPECT_EQ(h.pipeline.reports().front().process.executable, "/proc/self/exe");
	ASSERT_FALSE(h.events->empty());
	EXPECT_NE(h.events->front().process.executable_file, nullptr);
}

TEST(Pipeline, AllowlistedProcessesAreJudgedButNeverPublishedNorActedOn)
{
	PipelineOptions options;
	options.allowlist.executables = {"/usr/bin/monerod"};
	options.action = ResponseAction::Kill;
	Harness h(options);
	h.directory.add(10, "/usr/bin/monerod");
	h.directory.add(11, "/tmp/.x/kworker");
	mine(h.source, 10, 1 * kS, 5 * kS);
	mine(h.source, 11, 1 * kS, 5 * kS);
	h.run();
	ASSERT_EQ(h.events->size(), 1u);
	EXPECT_EQ(h.events->front().detection.key.tgid, 11u);
	EXPECT_EQ(h.pipeline.counts().allowlisted, 1u);
	EXPECT_EQ(h.pipeline.allowed({10, 7}), "executable /usr/bin/monerod");
	// The responder is asked for both, and told which one is allowlisted: it must skip it.
	ASSERT_EQ(h.responses.size(), 2u);
	for (const auto &[action, target] : h.responses) {
		EXPECT_EQ(action, ResponseAction::Kill);
		EXPECT_EQ(target.allowed.has_value(), target.pid == 10u);
		EXPECT_EQ(target.start_ticks, target.pid);
	}
	ASSERT_TRUE(h.events->front().response);
	EXPECT_EQ(h.events->front().response->result, ResponseResult::Applied);
}

TEST(Pipeline, ResponseIsAppliedOncePerProcessOnItsFirstAlert)
{
	PipelineOptions options;
	options.action = ResponseAction::Stop;
	options.detector.ongoing_interval_ns = 2 * kS;
	Harness h(options);
	h.directory.add(42, "/opt/miner");
	mine(h.source, 42, 1 * kS, 10 * kS);
	h.run();
	EXPECT_EQ(h.responses.size(), 1u);
	ASSERT_GE(h.events->size(), 3u);
	EXPECT_TRUE(h.events->front().response);
	for (std::size_t i = 1; i < h.events->size(); i++)
		EXPECT_FALSE((*h.events)[i].response) << "event " << i;
}

TEST(Pipeline, LifecycleFirstOngoingResolvedWhenTheProcessExits)
{
	PipelineOptions options;
	options.detector.ongoing_interval_ns = 3 * kS;
	Harness h(options);
	h.directory.add(42, "/opt/miner");
	mine(h.source, 42, 1 * kS, 8 * kS);
	h.run();
	const auto before_exit = h.kinds();
	ASSERT_GE(before_exit.size(), 2u);
	EXPECT_EQ(before_exit.front(), AlertStage::First);
	EXPECT_EQ(before_exit.back(), AlertStage::Ongoing);
	// Gone: the next exit check (once a second on the source's clock) resolves it, once.
	h.directory.alive[42] = false;
	h.source.advance_to(20 * kS);
	h.run();
	h.source.advance_to(25 * kS);
	h.run();
	const auto after = h.kinds();
	ASSERT_EQ(after.size(), before_exit.size() + 1);
	EXPECT_EQ(after.back(), AlertStage::Resolved);
	EXPECT_EQ(h.events->back().process.executable, "/opt/miner") << "a resolution still names the process";
}

TEST(Pipeline, IdleProcessesExpireAndTheirStateGoesWithThem)
{
	Harness h;
	h.directory.add(42, "/opt/miner");
	mine(h.source, 42, 1 * kS, 5 * kS);
	h.run();
	h.directory.alive.clear(); // the directory cannot tell: only the idle expiry ends it
	h.directory.alive[42] = true;
	h.source.advance_to(300 * kS);
	h.run();
	h.source.advance_to(320 * kS);
	h.run();
	EXPECT_EQ(h.kinds().back(), AlertStage::Resolved);
	EXPECT_TRUE(h.pipeline.detector().processes().empty());
	EXPECT_FALSE(h.pipeline.process_info({42, 7}).executable) << "the enrich state went with the detector's";
}

TEST(Pipeline, PidReuseIsANewProcessWithFreshFacts)
{
	Harness h;
	h.directory.add(42, "/usr/bin/benign");
	h.source.push(one_sample(42, 1 * kS, 2));
	h.run();
	EXPECT_EQ(h.pipeline.process_info({42, 7}).executable, "/usr/bin/benign");
	// The same pid, started later, is another process: looked up again.
	h.directory.add(42, "/tmp/miner");
	mine(h.source, 42, 2 * kS, 5 * kS, /*process_start=*/900);
	h.run();
	EXPECT_EQ(h.directory.lookups, 2);
	ASSERT_EQ(h.events->size(), 1u);
	EXPECT_EQ(h.events->front().detection.key.start_ns, 900u);
	EXPECT_EQ(h.events->front().process.executable, "/tmp/miner");
	EXPECT_EQ(h.pipeline.process_info({42, 7}).executable, "/usr/bin/benign");
}

TEST(Pipeline, AReloadAppliesTheNewAllowlistToKnownProcesses)
{
	Harness h;
	h.directory.add(42, "/opt/miner");
	h.source.push(one_sample(42, 1 * kS, 1));
	h.run();
	AllowlistConfig allow;
	allow.executables = {"/opt/miner"};
	h.pipeline.reconfigure({}, allow);
	mine(h.source, 42, 2 * kS, 5 * kS);
	h.run();
	EXPECT_TRUE(h.events->empty());
	EXPECT_EQ(h.pipeline.counts().allowlisted, 1u);
	allow.executables = {"relative/path"};
	EXPECT_THROW(h.pipeline.reconfigure({}, allow), std::invalid_argument);
}

TEST(Pipeline, ExecutablesGroupRespawnedWorkers)
{
	// Workers that live half a second each: alone none is convincing, pooled by
	// executable (the directory's answer) they are.
	Harness h;
	std::uint64_t t = 1 * kS;
	for (std::uint32_t pid = 100; pid < 130; pid++, t += 500 * kMs) {
		h.directory.add(pid, "/opt/respawning-miner");
		mine(h.source, pid, t, 200 * kMs, pid);
	}
	h.run();
	ASSERT_FALSE(h.events->empty());
	EXPECT_EQ(h.events->front().detection.scope, Scope::Group);
	EXPECT_NE(h.events->front().detection.group.find("/opt/respawning-miner"), std::string::npos);
}

// Random modes set like fesetround() (the x87 word agrees): a patched RandomX, or a test program.
void fesetround_churn(SampleVector &source, std::uint32_t pid, std::uint64_t from_ns, std::uint64_t for_ns)
{
	std::mt19937 random(pid);
	for (std::uint64_t t = from_ns; t < from_ns + for_ns; t += 10 * kMs) {
		const int mode = static_cast<int>(random() % 4);
		Sample s = one_sample(pid, t, mode);
		s.x87_cw = static_cast<std::uint16_t>(kX87CwDefault | mode << 10);
		source.push(s);
	}
}

Footprint light_mode(std::uint32_t tid)
{
	return Footprint{262ull << 20, 256ull << 20, 0, {{tid, 995}}};
}

TEST(Pipeline, ChurnSetLikeFesetroundIsAlertedOnceTheFootprintCorroboratesIt)
{
	Harness h;
	h.directory.add(42, "/opt/xmr/patched-miner");
	h.directory.add(43, "/usr/lib/fenv-tests");
	h.directory.footprints[42] = light_mode(42);
	h.directory.footprints[43] = Footprint{8ull << 20, 4ull << 20, 0, {{43, 1000}}}; // no RandomX-sized memory
	fesetround_churn(h.source, 42, 1 * kS, 5 * kS);
	fesetround_churn(h.source, 43, 1 * kS, 5 * kS);
	h.run();
	ASSERT_EQ(h.kinds(), std::vector<AlertStage>{AlertStage::First});
	const Detection &d = h.events->front().detection;
	EXPECT_EQ(d.key.tgid, 42u);
	EXPECT_EQ(d.verdict.rule, DecisionRule::ChurnFootprint);
	EXPECT_EQ(d.verdict.severity(), Severity::High);
	// Footprints are read while a verdict awaits them, at most once a second per
	// process, and for each alert (the one read when the first alert was made).
	EXPECT_GE(h.directory.footprint_reads, 3);
	EXPECT_LE(h.directory.footprint_reads, 1 + 6 + 1);
	EXPECT_EQ(h.pipeline.counts().footprints, static_cast<std::uint64_t>(h.directory.footprint_reads));
	const auto &processes = h.pipeline.detector().processes();
	EXPECT_EQ(processes.at(ProcessKey{43, 7}).verdict.kind, VerdictKind::Suspicious);
}

TEST(Pipeline, RecordedFootprintsReplayToTheSameAlerts)
{
	std::stringstream recording;
	SampleWriter writer(recording);
	writer.write_header(SampleFileHeader{});
	std::vector<Alert> live;
	{
		Harness h;
		h.directory.add(42, "/opt/xmr/patched-miner");
		h.directory.footprints[42] = light_mode(42);
		fesetround_churn(h.source, 42, 1 * kS, 4 * kS);
		h.pipeline.set_recorder(&writer);
		h.run();
		live = *h.events;
	}
	ASSERT_EQ(live.size(), 1u);
	EXPECT_NE(recording.str().find("{\"footprint\":{\"tgid\":42,\"start\":7,"), std::string::npos);

	RecordingSource source(recording, "recording");
	Pipeline replay({}, source, source, nullptr);
	auto kept = std::make_unique<KeptOutput>();
	auto events = kept->events;
	replay.set_output(std::move(kept));
	std::atomic<bool> stop{false};
	replay.run(stop);
	ASSERT_FALSE(source.error()) << source.error()->message();
	ASSERT_EQ(events->size(), 1u);
	const Detection &a = live.front().detection, &b = events->front().detection;
	EXPECT_EQ(b.verdict.rule, DecisionRule::ChurnFootprint);
	EXPECT_EQ(a.timestamp_ns, b.timestamp_ns);
	EXPECT_EQ(a.verdict.reason, b.verdict.reason);
	EXPECT_EQ(a.window_counts.total(), b.window_counts.total());
}

TEST(Pipeline, GroupEvidenceOutlivesForgottenWorkers)
{
	// Each worker mines 40 ms (alone not convincing), exits, and is forgotten a
	// second later; the next starts 3 s after the last. The group's evidence
	// outlives the workers.
	PipelineOptions options;
	options.forget_exited_after_ns = 1 * kS;
	Harness h(options);
	std::uint64_t t = 1 * kS;
	for (std::uint32_t pid = 100; pid < 130; pid++, t += 3 * kS) {
		h.directory.add(pid, "/opt/respawning-miner");
		h.directory.alive[pid] = false; // gone when first asked
		mine(h.source, pid, t, 40 * kMs, pid);
	}
	h.run();
	ASSERT_FALSE(h.events->empty());
	EXPECT_EQ(h.events->front().detection.scope, Scope::Group);
	std::size_t kept = 0; // alerted ones stay for their report until they expire
	for (const auto &[key, process] : h.pipeline.detector().processes())
		kept += !process.alerted;
	EXPECT_LE(kept, 1u) << "exited workers are forgotten";
}

TEST(Detector, IdleGroupsAreCappedAndExpire)
{
	DetectorConfig config;
	config.max_idle_groups = 8;
	Detector detector(config);
	for (std::uint32_t pid = 1; pid <= 100; pid++) {
		Sample s;
		s.tgid = s.tid = pid;
		s.process_start_ns = pid;
		s.timestamp_ns = pid * kMs;
		s.mxcsr = 0x1f80 | (2u << 13);
		s.comm = "w" + std::to_string(pid); // each its own group
		detector.observe(s);
		detector.forget_process({pid, pid});
	}
	EXPECT_EQ(detector.groups(), 8u);
	detector.expire(100 * kMs + config.window_ns + 1);
	EXPECT_EQ(detector.groups(), 0u);
}

std::shared_ptr<ContainerLookup> container_of_image(const std::string &image)
{
	auto lookup = std::make_shared<ContainerLookup>(std::string(64, 'a'), "podman");
	ContainerMetadata metadata;
	metadata.name = "miner-1";
	metadata.image_name = image;
	metadata.image_tag = "1.0";
	lookup->settle(metadata);
	return lookup;
}

TEST(Pipeline, AFirstAlertCarriesTheRuntimesAnswer)
{
	Harness h;
	h.directory.add(42, "/opt/xmr/miner");
	h.directory.containers[42] = container_of_image("localhost/xmrig");
	mine(h.source, 42, 1 * kS, 5 * kS);
	h.run();
	ASSERT_EQ(h.kinds(), std::vector<AlertStage>{AlertStage::First});
	const auto &c = h.events->front().process.container;
	ASSERT_TRUE(c && c->metadata);
	EXPECT_EQ(c->metadata->name, "miner-1");
	EXPECT_EQ(h.pipeline.counts().container_waits, 0u) << "answered before the alert: nothing waited";
}

TEST(Pipeline, AnImageOrNamespaceOnTheAllowlistIsKnownOnlyFromTheRuntime)
{
	PipelineOptions options;
	options.allowlist.images = {"localhost/xmr*:1.*"};
	Harness h(options);
	h.directory.add(42, "/opt/xmr/miner");
	h.directory.containers[42] = container_of_image("localhost/xmrig");
	h.directory.add(43, "/opt/xmr/miner");
	h.directory.containers[43] = container_of_image("localhost/other");
	mine(h.source, 42, 1 * kS, 5 * kS);
	mine(h.source, 43, 1 * kS, 5 * kS);
	h.run();
	ASSERT_EQ(h.kinds(), std::vector<AlertStage>{AlertStage::First});
	EXPECT_EQ(h.events->front().detection.key.tgid, 43u);
	EXPECT_EQ(h.pipeline.allowed({42, 7}), "image localhost/xmr*:1.*");
	EXPECT_EQ(h.pipeline.counts().allowlisted, 1u);
}

TEST(Pipeline, AFirstAlertWaitsBoundedForAnUnansweredLookupThenGoesOutWithout)
{
	PipelineOptions options;
	options.container_wait = std::chrono::milliseconds(50);
	Harness h(options);
	h.directory.add(42, "/opt/xmr/miner");
	h.directory.containers[42] = std::make_shared<ContainerLookup>(std::string(64, 'b'), "docker"); // never answers
	mine(h.source, 42, 1 * kS, 5 * kS);
	h.run();
	ASSERT_EQ(h.kinds(), std::vector<AlertStage>{AlertStage::First});
	const auto &c = h.events->front().process.container;
	ASSERT_TRUE(c);
	EXPECT_EQ(c->id, std::string(64, 'b'));
	EXPECT_FALSE(c->metadata);
	EXPECT_EQ(h.pipeline.counts().container_waits, 1u);
	EXPECT_EQ(h.pipeline.counts().container_wait_timeouts, 1u);
	// An answer that comes later is what later events and reports carry.
	h.directory.containers[42]->settle(container_of_image("localhost/xmrig")->get());
	EXPECT_EQ(h.pipeline.process_info({42, 7}).container->metadata->name, "miner-1");
}

} // namespace
} // namespace mxwatch
