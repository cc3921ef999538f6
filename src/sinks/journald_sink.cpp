// SPDX-License-Identifier: GPL-2.0-only
// Alerts as native journald entries, through libsystemd's sd_journal_sendv.
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/alerts/journal_fields.hpp"

#include <cstring>
#include <sys/uio.h>
// Without this, sd_journal_sendv adds CODE_FILE/CODE_LINE of this file to every alert.
#define SD_JOURNAL_SUPPRESS_LOCATION
#include <systemd/sd-journal.h>

namespace mxwatch {

namespace {

class JournaldSink final : public AlertSink {
public:
	Delivery write(const RenderedAlert &alert) override
	{
		const std::vector<std::string> fields = journal_fields(alert);
		std::vector<iovec> iov;
		iov.reserve(fields.size());
		for (const auto &field : fields)
			iov.push_back({const_cast<char *>(field.data()), field.size()});
		// Datagrams to /run/systemd/journal/socket (larger ones through a memfd):
		// a journald that is not running fails fast with ENOENT/ECONNREFUSED.
		// A journald that restarts is back within seconds: retried from the queue.
		const int rc = sd_journal_sendv(iov.data(), static_cast<int>(iov.size()));
		if (rc >= 0)
			return Delivery::Delivered;
		error_ = std::strerror(-rc);
		return Delivery::Retry;
	}
	std::string last_error() const override { return error_; }
	std::string name() const override { return "journald"; }

private:
	std::string error_;
};

} // namespace

std::unique_ptr<AlertSink> make_journald_sink()
{
	return std::make_unique<JournaldSink>();
}

} // namespace mxwatch
