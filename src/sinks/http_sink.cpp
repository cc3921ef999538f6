// SPDX-License-Identifier: GPL-2.0-only
// Alerts POSTed to an HTTP(S) endpoint (a SIEM's ingest API, a webhook): each
// alert document as one application/json request, or (--http-format ndjson)
// what is queued at that moment, up to batch_max alerts, as one
// application/x-ndjson request, one document per line.
#include "mxwatch/sinks/alert_sink.hpp"
#include "mxwatch/sinks/http_post.hpp"
#include "mxwatch/util/errors.hpp"

#include <fmt/format.h>

namespace mxwatch
{
namespace
{

class HttpSink final : public AlertSink
{
public:
	HttpSink(HttpUrl url, const HttpSinkOptions &options)
	    : poster_(std::move(url), options), ndjson_(options.body == HttpSinkOptions::Body::Ndjson),
	      batch_max_(ndjson_ ? std::max<std::size_t>(1, options.batch_max) : 1)
	{
	}

	Delivery write(const RenderedAlert &alert) override
	{
		if (ndjson_)
			return poster_.post(alert.document + "\n", "application/x-ndjson");
		return poster_.post(alert.document, "application/json");
	}

	std::size_t batch_limit() const override { return batch_max_; }

	Delivery write_batch(std::span<const RenderedAlert *const> alerts) override
	{
		std::string body;
		for (const RenderedAlert *alert : alerts) {
			body += alert->document; // one line each: documents never hold a newline
			body += '\n';
		}
		return poster_.post(body, "application/x-ndjson");
	}

	std::string last_error() const override { return poster_.last_error(); }
	// Without the query: it may carry a key, and the name goes into logs and metrics.
	std::string name() const override
	{
		const HttpUrl &url = poster_.url();
		return "http:" + url.origin() + url.path.substr(0, url.path.find('?'));
	}

private:
	HttpPoster poster_;
	bool ndjson_;
	std::size_t batch_max_;
};

} // namespace

std::unique_ptr<AlertSink> make_http_sink(const std::string &text, const HttpSinkOptions &options)
{
	std::string error;
	auto url = parse_http_url(text, error);
	if (!url)
		throw SetupError(fmt::format("--sink http:{}: {}", text, error));
	return std::make_unique<HttpSink>(std::move(*url), options);
}

} // namespace mxwatch
