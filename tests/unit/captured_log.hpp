// SPDX-License-Identifier: GPL-2.0-only
// The log lines of one test (spdlog's default logger, swapped for the test's
// lifetime), and a functional wait.
#pragma once

#include <chrono>
#include <memory>
#include <spdlog/sinks/ringbuffer_sink.h>
#include <spdlog/spdlog.h>
#include <string>
#include <thread>
#include <vector>

namespace mxwatch::test
{

class CapturedLog
{
public:
	CapturedLog()
	    : ring_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)), saved_(spdlog::default_logger())
	{
		auto logger = std::make_shared<spdlog::logger>("test", ring_);
		logger->set_pattern("%l %v");
		spdlog::set_default_logger(logger);
	}
	~CapturedLog() { spdlog::set_default_logger(saved_); }
	std::vector<std::string> lines() const { return ring_->last_formatted(); }
	std::vector<std::string> matching(const std::string &text) const
	{
		std::vector<std::string> out;
		for (const auto &line : lines())
			if (line.find(text) != std::string::npos)
				out.push_back(line);
		return out;
	}

private:
	std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> ring_;
	std::shared_ptr<spdlog::logger> saved_;
};

// Polls until `pred` holds, for a generous functional bound; false if it never did.
template <typename Pred> bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(20))
{
	const auto deadline = std::chrono::steady_clock::now() + timeout;
	while (!pred()) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(1));
	}
	return true;
}

} // namespace mxwatch::test
