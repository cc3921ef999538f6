// SPDX-License-Identifier: GPL-2.0-only
#include "mxwatch/sinks/http_post.hpp"

#include "mxwatch/util/errors.hpp"
#include "mxwatch/util/fd.hpp"
#include "mxwatch/util/sigpipe.hpp"
#include "mxwatch/util/utf8.hpp"
#include "mxwatch/version.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fmt/format.h>
#include <fcntl.h>
#include <httplib.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

namespace mxwatch
{
namespace
{

// Secrets are a line; a bigger file is not one.
constexpr std::size_t kMaxSecretBytes = 64 * 1024;
// The body's first line in an error, at most this much.
constexpr std::size_t kMaxErrorBodyBytes = 200;

bool host_char(char c)
{
	return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_';
}

std::optional<HttpUrl> fail(std::string &error, std::string why)
{
	error = std::move(why);
	return std::nullopt;
}

// The file's content without trailing white space, for a secret: SetupError naming
// the option and the file when it cannot be read, is empty, or spans lines.
std::string read_secret(const char *option, const std::string &path)
{
	const UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
	if (!fd)
		throw SetupError(fmt::format("{} {}: cannot read it: {}", option, path, std::strerror(errno)));
	std::string content(kMaxSecretBytes + 1, '\0');
	std::size_t got = 0;
	while (got < content.size()) {
		const ssize_t n = ::read(fd.get(), content.data() + got, content.size() - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			throw SetupError(fmt::format("{} {}: cannot read it: {}", option, path, std::strerror(errno)));
		if (n == 0)
			break;
		got += static_cast<std::size_t>(n);
	}
	content.resize(got);
	if (content.size() > kMaxSecretBytes)
		throw SetupError(
		    fmt::format("{} {}: larger than {} KiB, not a secret", option, path, kMaxSecretBytes / 1024));
	while (!content.empty() && std::isspace(static_cast<unsigned char>(content.back())))
		content.pop_back();
	if (content.empty())
		throw SetupError(fmt::format("{} {}: the file is empty", option, path));
	// It goes into a header line: no line breaks, no other control characters.
	if (std::any_of(content.begin(), content.end(),
	                [](char c) { return std::iscntrl(static_cast<unsigned char>(c)); }))
		throw SetupError(fmt::format("{} {}: expected one line without control characters", option, path));
	return content;
}

void check_ca_file(const std::string &path)
{
	BIO *bio = BIO_new_file(path.c_str(), "r");
	if (!bio)
		throw SetupError(fmt::format("--http-ca-file {}: cannot read it: {}", path, std::strerror(errno)));
	X509 *cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
	BIO_free(bio);
	if (!cert)
		throw SetupError(fmt::format("--http-ca-file {}: no PEM certificate in it", path));
	X509_free(cert);
}

std::string seconds_text(std::chrono::milliseconds d)
{
	return fmt::format("{:g} s", static_cast<double>(d.count()) / 1000.0);
}

std::string first_line(const std::string &body)
{
	std::string line = body.substr(0, body.find_first_of("\r\n"));
	if (line.size() > kMaxErrorBodyBytes) {
		line.resize(kMaxErrorBodyBytes);
		line += "...";
	}
	return printable_utf8(line);
}

} // namespace

std::string HttpUrl::origin() const
{
	const bool v6 = host.find(':') != std::string::npos;
	return fmt::format("{}://{}{}{}:{}", scheme, v6 ? "[" : "", host, v6 ? "]" : "", port);
}

std::string HttpUrl::text() const
{
	return origin() + path;
}

std::optional<HttpUrl> parse_http_url(std::string_view text, std::string &error)
{
	const auto sep = text.find("://");
	if (sep == std::string_view::npos)
		return fail(error, "expected a URL such as https://HOST[:PORT][/PATH]");
	HttpUrl url;
	url.scheme = std::string(text.substr(0, sep));
	std::transform(url.scheme.begin(), url.scheme.end(), url.scheme.begin(),
	               [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
	if (url.scheme != "http" && url.scheme != "https")
		return fail(error,
		            fmt::format("unknown scheme '{}' (expected http or https)", printable_utf8(url.scheme)));
	std::string_view rest = text.substr(sep + 3);
	const auto path_at = rest.find_first_of("/?#");
	std::string_view authority = rest.substr(0, path_at);
	std::string_view path = path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at);
	if (authority.find('@') != std::string_view::npos)
		return fail(error,
		            "credentials do not belong in the URL (use --http-basic-auth-file or --http-token-file)");
	if (path.starts_with('#') || path.find('#') != std::string_view::npos)
		return fail(error, "a URL fragment (#...) is never sent: leave it out");
	std::string_view host = authority, port;
	bool has_port = false;
	if (authority.starts_with('[')) {
		const auto close = authority.find(']');
		if (close == std::string_view::npos)
			return fail(error, "missing ']' after the IPv6 address");
		host = authority.substr(1, close - 1);
		const std::string_view after = authority.substr(close + 1);
		if (!after.empty()) {
			if (!after.starts_with(':'))
				return fail(error, "expected ':PORT' after ']'");
			port = after.substr(1);
			has_port = true;
		}
		if (host.empty() || !std::all_of(host.begin(), host.end(), [](char c) {
			    return std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.';
		    }))
			return fail(error, "not an IPv6 address between the brackets");
	} else {
		if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
			host = authority.substr(0, colon);
			port = authority.substr(colon + 1);
			has_port = true;
		}
		if (host.empty())
			return fail(error, "no host");
		if (!std::all_of(host.begin(), host.end(), host_char))
			return fail(error, "invalid character in the host name (IPv6 addresses go in brackets)");
	}
	url.host = std::string(host);
	url.port = url.https() ? 443 : 80;
	if (has_port) {
		unsigned value = 0;
		const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
		if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value < 1 || value > 65535)
			return fail(error, "the port must be a number from 1 to 65535");
		url.port = static_cast<int>(value);
	}
	if (std::any_of(path.begin(), path.end(),
	                [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; }))
		return fail(error, "the path must not contain spaces or control characters (percent-encode them)");
	url.path = path.empty() ? "/" : path.starts_with('?') ? "/" + std::string(path) : std::string(path);
	return url;
}

HttpPoster::HttpPoster(HttpUrl url, const HttpSinkOptions &options) : url_(std::move(url)), options_(options)
{
	if (!options.token_file.empty() && !options.basic_auth_file.empty())
		throw SetupError("--http-token-file and --http-basic-auth-file: choose one");
	std::string token, user, password;
	if (!options.token_file.empty())
		token = read_secret("--http-token-file", options.token_file);
	if (!options.basic_auth_file.empty()) {
		const std::string credentials = read_secret("--http-basic-auth-file", options.basic_auth_file);
		const auto colon = credentials.find(':');
		if (colon == std::string::npos || colon == 0)
			throw SetupError(fmt::format("--http-basic-auth-file {}: expected one line USER:PASSWORD",
			                             options.basic_auth_file));
		user = credentials.substr(0, colon);
		password = credentials.substr(colon + 1);
	}
	if (!options.ca_file.empty())
		check_ca_file(options.ca_file);

	ignore_sigpipe();
	client_ = std::make_unique<httplib::Client>(url_.origin());
	const auto timeout = std::max(options.timeout, std::chrono::milliseconds(1));
	client_->set_connection_timeout(timeout);
	client_->set_read_timeout(timeout);
	client_->set_write_timeout(timeout);
	// A connection per POST: alerts are rare, and a kept connection the peer
	// closed meanwhile would fail the next alert for nothing.
	client_->set_keep_alive(false);
	client_->set_follow_location(false);
	client_->set_default_headers({{"User-Agent", fmt::format("mxwatch/{}", kVersion)}});
	if (!token.empty())
		client_->set_bearer_token_auth(token);
	if (!user.empty())
		client_->set_basic_auth(user, password);
	if (url_.https()) {
		// Without a CA file: the system's trust store (OpenSSL's default paths).
		if (!options.ca_file.empty())
			client_->set_ca_cert_path(options.ca_file);
		client_->enable_server_certificate_verification(true);
	}
}

HttpPoster::~HttpPoster() = default;

Delivery HttpPoster::post(const std::string &body, const std::string &content_type)
{
	const httplib::Result result = client_->Post(url_.path, body, content_type);
	if (!result) {
		switch (result.error()) {
		case httplib::Error::Connection:
			error_ = fmt::format("cannot connect to {}", url_.origin());
			break;
		case httplib::Error::ConnectionTimeout:
			error_ = fmt::format("cannot connect to {} within {}", url_.origin(),
			                     seconds_text(options_.timeout));
			break;
		case httplib::Error::Read:
			error_ = fmt::format("no answer from {} within {} (or the connection was closed)",
			                     url_.origin(), seconds_text(options_.timeout));
			break;
		case httplib::Error::Write:
			error_ = fmt::format("sending to {} failed or timed out", url_.origin());
			break;
		case httplib::Error::SSLConnection:
			error_ = fmt::format("TLS handshake with {} failed", url_.origin());
			break;
		case httplib::Error::SSLLoadingCerts:
			error_ = fmt::format("TLS: cannot load the CA certificates ({})",
			                     options_.ca_file.empty() ? "system trust store" : options_.ca_file);
			break;
		case httplib::Error::SSLServerVerification: {
			const long verify = client_->get_openssl_verify_result();
			error_ =
			    verify == X509_V_OK
			        ? fmt::format("TLS: the certificate of {} is not for host {}", url_.origin(), url_.host)
			        : fmt::format("TLS: the certificate of {} was not verified: {} (trusted: {})",
			                      url_.origin(), X509_verify_cert_error_string(verify),
			                      options_.ca_file.empty() ? "the system trust store" : options_.ca_file);
			break;
		}
		default:
			error_ = fmt::format("POST {}: {}", url_.text(), httplib::to_string(result.error()));
			break;
		}
		return Delivery::Retry;
	}
	const int status = result->status;
	if (status >= 200 && status < 300)
		return Delivery::Delivered;
	error_ = fmt::format("{} {} {}", result->version.empty() ? "HTTP/1.1" : result->version, status,
	                     printable_utf8(result->reason));
	if (const std::string line = first_line(result->body); !line.empty())
		error_ += ": " + line;
	// The receiver is in trouble or asks for patience: again later. Anything else
	// is its final word on this alert.
	if (status >= 500 || status == 408 || status == 429)
		return Delivery::Retry;
	return Delivery::Rejected;
}

} // namespace mxwatch
