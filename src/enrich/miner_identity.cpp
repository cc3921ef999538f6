// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/enrich/miner_identity.hpp"

#include "mxwatch/shipped_yara_rules.hpp"

#include <algorithm>
#include <cstdio>
#include <fmt/format.h>
#include <stdexcept>
#include <sys/stat.h>
#include <yara.h>

namespace mxwatch {
namespace {

// libyara's global state: initialised once for the process, never finalised
// (rules may be in use on the output thread until exit).
void yara_initialise()
{
	static const int status = yr_initialize();
	if (status != ERROR_SUCCESS)
		throw std::runtime_error(fmt::format("YARA: cannot initialise (error {})", status));
}

struct CompileErrors {
	std::string first; // "FILE:LINE: message"
	int count = 0;
};

void on_compile_message(int level, const char *file, int line, const YR_RULE *, const char *message, void *user)
{
	if (level != YARA_ERROR_LEVEL_ERROR)
		return;
	auto *errors = static_cast<CompileErrors *>(user);
	if (errors->count++ == 0)
		errors->first = fmt::format("{}:{}: {}", file ? file : "?", line, message ? message : "error");
}

int on_scan_message(YR_SCAN_CONTEXT *, int message, void *data, void *user)
{
	if (message != CALLBACK_MSG_RULE_MATCHING)
		return CALLBACK_CONTINUE;
	const auto *rule = static_cast<const YR_RULE *>(data);
	MinerMatch match{rule->identifier, rule->identifier};
	const YR_META *meta;
	yr_rule_metas_foreach(rule, meta)
	{
		if (meta->type == META_TYPE_STRING && std::string_view(meta->identifier) == "software" && meta->string)
			match.software = meta->string;
		if (meta->type == META_TYPE_BOOLEAN && std::string_view(meta->identifier) == "generic")
			match.generic = meta->integer != 0;
	}
	auto *matches = static_cast<std::vector<MinerMatch> *>(user);
	if (matches->size() < 16) // bounded: a user's rules may match everything
		matches->push_back(std::move(match));
	return CALLBACK_CONTINUE;
}

} // namespace

std::shared_ptr<MinerIdentifier> MinerIdentifier::load(const std::vector<std::string> &rule_files, bool shipped,
						       ScanLimits limits)
{
	yara_initialise();
	YR_COMPILER *compiler = nullptr;
	if (yr_compiler_create(&compiler) != ERROR_SUCCESS)
		throw std::runtime_error("YARA: cannot create a compiler");
	CompileErrors errors;
	yr_compiler_set_callback(compiler, on_compile_message, &errors);
	if (shipped && yr_compiler_add_string(compiler, kShippedMinerRules, "mxwatch") != 0) {
		yr_compiler_destroy(compiler);
		throw std::runtime_error("the shipped YARA rules do not compile: " + errors.first);
	}
	for (const auto &path : rule_files) {
		FILE *file = std::fopen(path.c_str(), "re");
		if (!file) {
			yr_compiler_destroy(compiler);
			throw std::runtime_error(fmt::format("{}: cannot read the YARA rules file", path));
		}
		yr_compiler_add_file(compiler, file, nullptr, path.c_str());
		std::fclose(file);
		if (errors.count) {
			yr_compiler_destroy(compiler);
			throw std::runtime_error(errors.first);
		}
	}
	YR_RULES *rules = nullptr;
	const int status = yr_compiler_get_rules(compiler, &rules);
	yr_compiler_destroy(compiler);
	if (status != ERROR_SUCCESS)
		throw std::runtime_error(fmt::format("YARA: cannot build the rules (error {})", status));
	std::size_t count = 0;
	const YR_RULE *rule;
	yr_rules_foreach(rules, rule)
	{
		count++;
	}
	return std::shared_ptr<MinerIdentifier>(new MinerIdentifier(rules, count, limits));
}

MinerIdentifier::MinerIdentifier(YR_RULES *rules, std::size_t rule_count, ScanLimits limits)
    : rules_(rules), rule_count_(rule_count), limits_(limits)
{
}

MinerIdentifier::~MinerIdentifier()
{
	yr_rules_destroy(rules_);
}

std::optional<std::vector<MinerMatch>> MinerIdentifier::scan_fd(int fd)
{
	struct stat st{};
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > limits_.max_bytes) {
		std::lock_guard lock(mutex_);
		counts_.skipped++;
		return std::nullopt;
	}
	std::vector<MinerMatch> matches;
	// SCAN_FLAGS_REPORT_RULES_MATCHING only; the fd is mapped, not read whole.
	const int status = yr_rules_scan_fd(rules_, fd, 0, on_scan_message, &matches, limits_.timeout_s);
	std::lock_guard lock(mutex_);
	if (status != ERROR_SUCCESS) {
		counts_.failed++;
		return std::nullopt;
	}
	if (std::any_of(matches.begin(), matches.end(), [](const MinerMatch &m) { return !m.generic; }))
		std::erase_if(matches, [](const MinerMatch &m) { return m.generic; });
	counts_.scanned++;
	counts_.matched += !matches.empty();
	return matches;
}

std::optional<std::vector<MinerMatch>> MinerIdentifier::identify(const ExecutableFile &file, const std::string &sha256)
{
	{
		std::lock_guard lock(mutex_);
		if (auto it = index_.find(sha256); it != index_.end()) {
			lru_.splice(lru_.begin(), lru_, it->second);
			counts_.cache_hits++;
			return it->second->second;
		}
	}
	auto result = scan_fd(file.fd());
	std::lock_guard lock(mutex_);
	if (index_.contains(sha256)) // scanned meanwhile by another caller
		return result;
	lru_.emplace_front(sha256, result);
	index_[sha256] = lru_.begin();
	if (lru_.size() > limits_.cache_entries) {
		index_.erase(lru_.back().first);
		lru_.pop_back();
	}
	return result;
}

ScanCounts MinerIdentifier::counts() const
{
	std::lock_guard lock(mutex_);
	return counts_;
}

} // namespace mxwatch
