// SPDX-License-Identifier: GPL-2.0-only
// What the http and alertmanager sinks share: their URL, and one POST with
// credentials, trust and timeouts, its outcome classified for the sink queue
// (sink_queue.hpp):
//
//   2xx                                          Delivered
//   no answer (refused, reset, timed out, TLS),
//   408, 429, 5xx                                Retry (kept queued, backoff)
//   anything else (400, 401, 403, 404, 3xx...)   Rejected (counted as failed,
//                                                logged with the status line)
//
// HTTP delivery is at least once: an answer lost after the receiver took the
// body makes the alert go again (receivers can deduplicate on event.id;
// Alertmanager does so by itself, by labels).
#pragma once

#include "mxwatch/sinks/alert_sink.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace httplib
{
class Client;
}

namespace mxwatch
{

struct HttpUrl {
	std::string scheme; // "http" or "https"
	std::string host;   // an IPv6 address without its brackets
	int port = 0;
	std::string path; // "/..." with the query, if any; "/" at least
	bool https() const { return scheme == "https"; }
	std::string origin() const; // "https://[::1]:8443"
	std::string text() const;   // origin() + path
};

// http[s]://HOST[:PORT][/PATH][?QUERY]: the URL, or nothing and `error` says why
// in a few words ("unknown scheme ftp (expected http or https)").
std::optional<HttpUrl> parse_http_url(std::string_view text, std::string &error);

class HttpPoster
{
public:
	// Reads the token or basic-auth file and checks the CA file: SetupError naming
	// the option and file when one cannot be used.
	HttpPoster(HttpUrl url, const HttpSinkOptions &options);
	~HttpPoster();
	HttpPoster(const HttpPoster &) = delete;
	HttpPoster &operator=(const HttpPoster &) = delete;

	// POSTs `body` to the URL's path (or `path`). Takes at most about three times
	// the timeout (connect, send, answer).
	Delivery post(const std::string &body, const std::string &content_type);
	// Why the last post did not deliver: "HTTP/1.1 400 Bad Request: {first line of the body}",
	// "no answer from https://siem:8443 within 5 s", "TLS: certificate verify failed (...)".
	const std::string &last_error() const { return error_; }
	const HttpUrl &url() const { return url_; }

private:
	HttpUrl url_;
	HttpSinkOptions options_;
	std::unique_ptr<httplib::Client> client_;
	std::string error_;
};

} // namespace mxwatch
